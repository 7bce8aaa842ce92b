"""Rss of a gcore core: pages gdb wrote as zeros are not counted, and every file agrees.

tests/progs/gcore_rss.c callocs 64 MiB (a fresh mapping the kernel fills with zero pages on
demand), writes its first MiB, copies its own statm, status, stat, smaps and smaps_rollup, and
is dumped by gdb's gcore, which writes all 64 MiB as data.  The kernel never counted the pages
the process did not touch; corefs counts a gcore core's all-zero pages as not resident
(README), so:

* the allocation's Rss in smaps is the live one, to the page;
* the process's anonymous Rss is the live one within a few pages (the copy of /proc was taken a
  moment before gcore), and its VmRSS lies between that and the live VmRSS (gcore leaves out the
  file pages the process did not write, which the live count includes), far below 64 MiB;
* stat, statm, status, smaps and smaps_rollup agree with each other, and Pss is Rss;
* the core compressed with zstd (its zero pages become holes once decompressed) mounts with the
  very same bytes in all five files.
"""
import re
import subprocess

import pytest

from conftest import build_prog, gcore_running, mounted

PAGE = 4096
KB = 1024
BIG = 64 << 20
FILES = ("stat", "statm", "status", "smaps", "smaps_rollup")
SMAPS_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) ")


def kb(value):
    assert value.endswith(" kB"), value
    return int(value[:-3]) * KB


def status_fields(text):
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def smaps_blocks(text):
    """{start address: {field: value}} of smaps."""
    out, cur = {}, None
    for line in text.splitlines():
        if m := SMAPS_HEADER.match(line):
            cur = out.setdefault(int(m[1], 16), {})
        else:
            key, value = line.split(":", 1)
            cur[key] = value.strip()
    return out


@pytest.fixture(scope="module")
def dumped(tmp_path_factory):
    d = tmp_path_factory.mktemp("gcore-rss")
    exe = build_prog("gcore_rss", d, "-O2")
    core = gcore_running(exe, d)
    assert core.stat().st_size > BIG, "gcore wrote the untouched pages"
    zst = d / (core.name + ".zst")
    subprocess.run(["zstd", "-q", str(core), "-o", str(zst)], check=True)
    return d, core, zst


def read_all(core):
    with mounted(core) as mnt:
        return {name: (mnt / name).read_text() for name in FILES}


def live(d, name):
    return (d / f"live-{name}").read_text()


def test_gcore_rss_close_to_the_live_process(dumped):
    d, core, _ = dumped
    got = read_all(core)
    status = status_fields(got["status"])
    live_status = status_fields(live(d, "status"))
    rss = kb(status["VmRSS"])
    # The allocation: the same pages resident as the live process had, to the page.
    smaps, live_smaps = smaps_blocks(got["smaps"]), smaps_blocks(live(d, "smaps"))
    big = [a for a, f in live_smaps.items() if kb(f["Size"]) >= BIG]
    assert len(big) == 1
    assert kb(smaps[big[0]]["Size"]) == kb(live_smaps[big[0]]["Size"])
    assert kb(smaps[big[0]]["Rss"]) == kb(live_smaps[big[0]]["Rss"]) >= 1 << 20
    # The process: anonymous pages as the live count, within a few pages; VmRSS no more than
    # the live one (gcore leaves unwritten file pages out), both far below the allocation.
    assert abs(kb(status["RssAnon"]) - kb(live_status["RssAnon"])) <= 16 * PAGE
    assert kb(live_status["RssAnon"]) - 16 * PAGE <= rss <= kb(live_status["VmRSS"]) + 16 * PAGE
    assert rss < BIG // 8


def test_gcore_rss_files_agree(dumped):
    _, core, _ = dumped
    got = read_all(core)
    status = status_fields(got["status"])
    rss = kb(status["VmRSS"])
    assert rss == kb(status["RssAnon"]) + kb(status["RssFile"]) + kb(status["RssShmem"])
    assert int(got["statm"].split()[1]) * PAGE == rss
    assert int(got["stat"].rsplit(")", 1)[1].split()[21]) * PAGE == rss
    smaps = smaps_blocks(got["smaps"])
    gate = {a for a in smaps if a >= 0xffffffffff600000}
    assert sum(kb(f["Rss"]) for a, f in smaps.items() if a not in gate) == rss
    for f in smaps.values():
        assert f["Pss"] == f["Rss"]
    rollup = next(iter(smaps_blocks(got["smaps_rollup"]).values()))
    assert kb(rollup["Rss"]) == kb(rollup["Pss"]) == rss
    assert [kb(rollup[k]) for k in ("Pss_Anon", "Pss_File", "Pss_Shmem")] == \
        [kb(status[k]) for k in ("RssAnon", "RssFile", "RssShmem")]


def test_gcore_rss_plain_and_compressed_agree(dumped):
    _, core, zst = dumped
    assert read_all(zst) == read_all(core)
