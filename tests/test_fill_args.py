"""What a core leaves out, filled in: text from the mapped files, argv and envp from the stack.

Oracles: the mapped files' own bytes at the offsets the live /proc/self/maps gave; the live
/proc/self/{cmdline,environ} the program saved just before it died.
"""
import errno
import json
import os
import shutil
import subprocess

import pytest

from conftest import build_prog, crash, gcore_running, mounted, read_mem

SEEK_DATA, SEEK_HOLE = 3, 4


def parse_maps(text):
    out = []
    for line in text.splitlines():
        f = line.split(None, 5)
        start, end = (int(x, 16) for x in f[0].split("-"))
        out.append(dict(start=start, end=end, perms=f[1], offset=int(f[2], 16),
                        path=f[5].strip() if len(f) > 5 else ""))
    return out




def eio(mnt, addr):
    with pytest.raises(OSError) as e:
        read_mem(mnt, addr, 16)
    return e.value.errno == errno.EIO


def file_bytes(path, offset, size):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


@pytest.fixture(scope="module")
def dumped(tmp_path_factory):
    """A dynamic PIE program that saved its live /proc files, then aborted into a core."""
    d = tmp_path_factory.mktemp("args")
    exe = build_prog("args_env", d)
    core, _ = crash(exe, d, "plain")
    return d, exe, core


def text_mappings(maps, path_suffix):
    return [m for m in maps if m["path"].endswith(path_suffix) and "x" in m["perms"]]


def test_text_of_executable_and_libc_equals_the_files(dumped):
    d, exe, core = dumped
    live = parse_maps((d / "maps.live").read_text())
    with mounted(core) as mnt:
        for suffix in (exe.name, "/libc.so.6", "/ld-linux-x86-64.so.2"):
            maps = text_mappings(live, suffix)
            assert maps, f"no executable mapping of {suffix} in the live maps"
            for m in maps:
                size = m["end"] - m["start"]
                got = read_mem(mnt, m["start"], size)
                want = file_bytes(m["path"], m["offset"], size)
                # The page holding the file's end reads as zeros past it, as in the process.
                assert got == want + b"\0" * (len(got) - len(want)), m
                assert len(got) == size
        files = {f["path"]: f for f in json.loads((mnt / "core.json").read_text())["files"]}
        assert files[str(exe)]["status"] == "same"
        assert "build-id" in files[str(exe)]["why"]


def test_no_fill_leaves_text_eio(dumped):
    d, exe, core = dumped
    live = parse_maps((d / "maps.live").read_text())
    with mounted(core, "--no-fill") as mnt:
        for m in text_mappings(live, exe.name) + text_mappings(live, "/libc.so.6"):
            assert eio(mnt, m["start"])


def test_rebuilt_executable_is_eio_not_wrong_bytes(tmp_path):
    exe = build_prog("args_env", tmp_path, "-DVARIANT=1")
    core, _ = crash(exe, tmp_path)
    live = parse_maps((tmp_path / "maps.live").read_text())
    before = read_text_via_mount(core, live, exe.name)
    assert all(b is not None for b in before)
    # Rebuild at the same path with different code: a different build-id.
    build_prog("args_env", tmp_path, "-DVARIANT=2")
    with mounted(core, "-d") as mnt:
        for m in text_mappings(live, exe.name):
            assert eio(mnt, m["start"]), "text of a rebuilt executable must not be served"
        for m in text_mappings(live, "/libc.so.6"):
            read_mem(mnt, m["start"], 4096)  # libc is still the mapped one
        j = json.loads((mnt / "core.json").read_text())
        f = {f["path"]: f for f in j["files"]}[str(exe)]
        assert f["status"] == "different" and "build-id" in f["why"]
        # The first page (ELF header) is in the core itself and still reads.
        first = [m for m in live if m["path"] == str(exe) and m["offset"] == 0][0]
        assert read_mem(mnt, first["start"], 4)[:4] == b"\x7fELF"
        line = [l for l in (mnt / "maps").read_text().splitlines() if l.endswith(str(exe))][0]
        assert " 00:00 0 " in line, "a different file must not lend its dev:inode"


def read_text_via_mount(core, live, suffix):
    with mounted(core) as mnt:
        return [read_mem(mnt, m["start"], 64) for m in text_mappings(live, suffix)]


def test_sysroot_finds_moved_files(tmp_path):
    exe = build_prog("args_env", tmp_path)
    core, _ = crash(exe, tmp_path)
    live = parse_maps((tmp_path / "maps.live").read_text())
    sysroot = tmp_path / "sysroot"
    moved = {}
    for m in live:
        p = m["path"]
        if p.startswith("/") and p not in moved and os.path.isfile(p):
            dst = sysroot / p.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dst)
            moved[p] = dst
    os.rename(exe, tmp_path / "elsewhere")  # the original path no longer exists
    with mounted(core) as mnt:
        for m in text_mappings(live, exe.name):
            assert eio(mnt, m["start"])
    with mounted(core, f"--sysroot={sysroot}") as mnt:
        for m in text_mappings(live, exe.name) + text_mappings(live, "/libc.so.6"):
            size = m["end"] - m["start"]
            want = file_bytes(moved[m["path"]], m["offset"], size)
            got = read_mem(mnt, m["start"], size)
            assert got[:len(want)] == want
        files = {f["path"]: f for f in json.loads((mnt / "core.json").read_text())["files"]}
        assert files[str(exe)]["disk_path"] == str(moved[str(exe)])
        assert files[str(exe)]["status"] == "same"


def dumped_segments(core):
    """{vaddr: p_filesz} of the core's PT_LOADs, as readelf (binutils) reads them."""
    out = subprocess.run(["readelf", "-lW", str(core)], capture_output=True, text=True,
                         check=True).stdout
    segs = {}
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            segs[int(f[2], 16)] = int(f[4], 16)
    return segs


def readable_ranges(live, core):
    """What mem can read: every readable mapping of a file that is still on disk, and every
    other mapping the kernel wrote whole into the core (kernels differ on [vvar]); never
    [vsyscall], which lies above any file offset.  Adjacent ones merged."""
    segs = dumped_segments(core)
    out = []
    for m in live:
        if "r" not in m["perms"] or m["path"] == "[vsyscall]":
            continue
        on_disk = m["path"].startswith("/") and os.path.isfile(m["path"])
        if not on_disk and segs.get(m["start"]) != m["end"] - m["start"]:
            continue
        if out and out[-1][1] == m["start"]:
            out[-1][1] = m["end"]
        else:
            out.append([m["start"], m["end"]])
    return [tuple(r) for r in out]


def test_seek_data_and_hole_report_the_readable_ranges(dumped):
    d, exe, core = dumped
    want = readable_ranges(parse_maps((d / "maps.live").read_text()), core)
    got = []
    with mounted(core) as mnt:
        fd = os.open(mnt / "mem", os.O_RDONLY)
        try:
            pos = 0
            while True:
                try:
                    start = os.lseek(fd, pos, SEEK_DATA)
                except OSError as e:
                    assert e.errno == errno.ENXIO
                    break
                end = os.lseek(fd, start, SEEK_HOLE)
                assert end > start
                got.append((start, end))
                pos = end
            # A hole is reported where it begins, data where it is.
            hole = want[0][1]
            assert os.lseek(fd, hole, SEEK_HOLE) == hole
            assert os.lseek(fd, want[0][0], SEEK_DATA) == want[0][0]
        finally:
            os.close(fd)
    assert got == want


UNUSUAL_ARGS = ["", "two words", "", "tab\there", "new\nline", "ünïcödé", "-", "x" * 300, ""]
UNUSUAL_ENV = {"EMPTY": "", "SPACES": "a b  c", "LONG": "y" * 100000, "EQ": "a=b=c",
               "NL": "line1\nline2"}


@pytest.mark.parametrize("how", ["abort", "segv"])
def test_cmdline_and_environ_byte_identical(tmp_path, how):
    exe = build_prog("args_env", tmp_path)
    args = (["segv"] if how == "segv" else []) + UNUSUAL_ARGS
    core, _ = crash(exe, tmp_path, *args, env=dict(UNUSUAL_ENV))
    with mounted(core) as mnt:
        assert (mnt / "cmdline").read_bytes() == (tmp_path / "cmdline.live").read_bytes()
        assert (mnt / "environ").read_bytes() == (tmp_path / "environ.live").read_bytes()
        j = json.loads((mnt / "core.json").read_text())
    assert j["cmdline_source"] == "stack"
    live_argv = (tmp_path / "cmdline.live").read_bytes().split(b"\0")[:-1]
    assert [a.encode() for a in j["cmdline"]] == live_argv
    assert j["environ_count"] == len(UNUSUAL_ENV)


@pytest.mark.parametrize("how", ["kernel", "gcore"])
def test_cmdline_and_environ_of_an_i386_process(tmp_path, how):
    """A 32-bit process: argv and envp found on its stack by the copy of its auxv.  gdb's gcore
    of an i386 process writes an NT_AUXV with more AT_NULL entries than the stack holds (it
    copies /proc/PID/auxv, which counts a compat process's auxv in the kernel's longs)."""
    exe = build_prog("args_env", tmp_path, "-m32")
    if how == "kernel":
        core, _ = crash(exe, tmp_path, *UNUSUAL_ARGS)
    else:
        core = gcore_running(exe, tmp_path, "wait", *UNUSUAL_ARGS)
    with mounted(core) as mnt:
        assert (mnt / "cmdline").read_bytes() == (tmp_path / "cmdline.live").read_bytes()
        assert (mnt / "environ").read_bytes() == (tmp_path / "environ.live").read_bytes()
        j = json.loads((mnt / "core.json").read_text())
    assert j["cmdline_source"] == "stack", j.get("cmdline_why_not_stack")


def test_truncated_stack_falls_back_to_psargs(tmp_path):
    exe = build_prog("args_env", tmp_path)
    core, _ = crash(exe, tmp_path, "one", "two")
    live = parse_maps((tmp_path / "maps.live").read_text())
    stack = [m for m in live if m["path"] == "[stack]"][0]
    # Cut the core where the stack's bytes begin (readelf finds the segment's file offset).
    out = subprocess.run(["readelf", "-lW", str(core)], capture_output=True, text=True,
                         check=True).stdout
    offset = None
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD" and int(f[2], 16) == stack["start"]:
            offset = int(f[1], 16)
    assert offset
    cut = tmp_path / "cut.core"
    with open(core, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(offset))
    with mounted(cut) as mnt:
        j = json.loads((mnt / "core.json").read_text())
        assert j["cmdline_source"] == "psargs"
        assert "stack" in j["cmdline_why_not_stack"]
        # psargs: argv joined by spaces; without spaces inside arguments it splits back exactly.
        assert (mnt / "cmdline").read_bytes() == (tmp_path / "cmdline.live").read_bytes()
        assert (mnt / "environ").read_bytes() == b""
        assert any("truncated" in p for p in j["problems"])
