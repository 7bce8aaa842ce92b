"""A directory of cores mounts as a /proc of dead processes; --proc gives one core that shape.

The cores are made at test time: kernel cores of args_env (each run is a new pid) and a gcore
core of a waiting program.  Oracles: what each program saved of its own /proc before dying, and
`corefs --cat` of each core alone (the single-core tree, tested elsewhere against the live
process).  Changes to the directory while mounted are asynchronous for the kernel's caches, so
the tests wait for them with a deadline instead of assuming an order.
"""
import json
import os
import shutil

import pytest

from conftest import build_prog, corefs_cat, crash, gcore_running, mounted, pid_of, wait_until





@pytest.fixture(scope="module")
def cores(tmp_path_factory):
    """Three kernel cores with their own pids and one gcore core, each in its own directory."""
    base = tmp_path_factory.mktemp("procdir")
    exe = build_prog("args_env", base)
    out = []
    for i in range(3):
        d = base / f"k{i}"
        d.mkdir()
        core, _ = crash(exe, d, f"run{i}")
        out.append((core, (d / "cmdline.live").read_bytes()))
    w = base / "g"
    w.mkdir()
    waiter = build_prog("waiter", w)
    out.append((gcore_running(waiter, w), (w / "comm.live").read_bytes()))
    return out


def numeric(names):
    return sorted(int(n) for n in names if n.isdigit())


def test_directory_is_a_proc_of_its_cores(cores, tmp_path):
    d = tmp_path / "store"
    d.mkdir()
    for i, (core, _) in enumerate(cores):
        shutil.copy(core, d / f"core.{i}")
    (d / "README").write_text("not a core\n")
    shutil.copy("/bin/true", d / "an-executable")
    pids = sorted(pid_of(c) for c, _ in cores)
    with mounted(d, "-d") as mnt:
        names = os.listdir(mnt)
        assert numeric(names) == pids
        assert "self" not in names and "by-name" in names
        assert sorted(os.listdir(mnt / "by-name")) == [f"core.{i}" for i in range(len(cores))]
        for i, (core, live) in enumerate(cores[:3]):
            pid = pid_of(core)
            assert (mnt / str(pid) / "cmdline").read_bytes() == live
            assert (mnt / str(pid) / "maps").read_bytes() == corefs_cat(core, "maps").stdout
            assert (mnt / "by-name" / f"core.{i}" / "cmdline").read_bytes() == live
        gcore, comm = cores[3]
        assert (mnt / str(pid_of(gcore)) / "comm").read_bytes() == comm
        assert not (mnt / "README").exists() and not (mnt / "an-executable").exists()


def test_cores_come_and_go_while_mounted(cores, tmp_path):
    d = tmp_path / "store"
    d.mkdir()
    (a, _), (b, b_cmdline) = cores[0], cores[1]
    shutil.copy(a, d / "core.a")
    with mounted(d) as mnt:
        assert numeric(os.listdir(mnt)) == [pid_of(a)]
        # Arrives in two steps, as a core being written does: it shows once it is whole.
        partial = d / "core.b"
        data = b.read_bytes()
        partial.write_bytes(data[:100])
        partial.write_bytes(data)
        wait_until(lambda: (mnt / str(pid_of(b))).exists(), "a new core appears")
        assert (mnt / str(pid_of(b)) / "cmdline").read_bytes() == b_cmdline
        assert numeric(os.listdir(mnt)) == sorted([pid_of(a), pid_of(b)])
        # Goes away: from the listing and from lookups (the kernel's cached name dropped).
        os.remove(d / "core.a")
        wait_until(lambda: not (mnt / str(pid_of(a))).exists(), "a removed core disappears")
        assert numeric(os.listdir(mnt)) == [pid_of(b)]
        assert os.listdir(mnt / "by-name") == ["core.b"]


def test_same_pid_newest_core_owns_it(cores, tmp_path):
    d = tmp_path / "store"
    d.mkdir()
    core, _ = cores[0]
    older, newer = d / "z-older", d / "a-newer"
    shutil.copy(core, older)
    shutil.copy(core, newer)
    os.utime(older, (1_000_000_000, 1_000_000_000))
    os.utime(newer, (2_000_000_000, 2_000_000_000))
    pid = pid_of(core)
    with mounted(d) as mnt:
        assert numeric(os.listdir(mnt)) == [pid], "one <pid>/ for both cores"
        owner = json.loads((mnt / str(pid) / "core.json").read_text())["core"]
        assert owner == str(newer), "the newest core (by mtime) owns the pid, whatever its name"
        assert sorted(os.listdir(mnt / "by-name")) == ["a-newer", "z-older"]
        assert json.loads((mnt / "by-name" / "z-older" / "core.json").read_text())["core"] == \
            str(older)


def test_proc_shape_for_one_core(cores):
    core, live = cores[0]
    pid = pid_of(core)
    with mounted(core, "--proc") as mnt:
        assert numeric(os.listdir(mnt)) == [pid]
        assert (mnt / str(pid) / "cmdline").read_bytes() == live
        assert os.listdir(mnt / "by-name") == [core.name]


def test_cat_through_a_directory(cores, tmp_path):
    d = tmp_path / "store"
    d.mkdir()
    core, live = cores[1]
    shutil.copy(core, d / "one")
    pid = pid_of(core)
    assert corefs_cat(d, f"{pid}/cmdline").stdout == live
    assert corefs_cat(d, "by-name/one/cmdline").stdout == live
    p = corefs_cat(d, "99999999/cmdline", check=False)
    assert p.returncode == 1 and p.stderr.decode().count("\n") == 1
