"""--search-path=DIR[:DIR...] (issue 11, item 6): a mapped file that is not where the core says
(under --sysroot), or is not the mapped file there, is looked for by its base name in each DIR in
turn, as gdb's solib-search-path and eu-stack's search of directories look; a file found so is
used only when it is proven the mapped one (build-id, else its first page), never on an mtime
presumption.  And --sysroot does not fall back to / (see the README): a file the sysroot lacks is
missing, not this machine's file of the same path.

The cores are tests/test_missing_files.py's: bt_threads with its library (tables, no frame
pointers) dies into a kernel core here, so this machine's files are the mapped ones; the
executable is then moved away, or another build is put at its path or in a directory of the
search path.  The oracles: core.json and the stack file of the same core read while everything
was in place, and the build-ids readelf reads."""
import json
import os
import re
import shutil
import signal
import subprocess

import pytest

from conftest import COREFS, corefs_cat, crash, one_line_error
from test_missing_files import NOENT, build_id, core_json
from test_stack import build_threads

WHY_OTHER = "build-id differs from the core's"
FOUND = "build-id matches the core's; found by its name in the search path"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(dir, exe, core, core.json and stack file with every file in place, another build)."""
    d = tmp_path_factory.mktemp("search-path")
    exe, _ = build_threads(d, "cfi-nofp")
    core, _ = crash(exe, d, "crash", expect_signal=signal.SIGSEGV)
    before = core_json(core)
    assert before["problems"] == [], before["problems"]
    other = tmp_path_factory.mktemp("other-build")
    shutil.copy2(d / "libbt_lib.so", other)
    rebuilt, _ = build_threads(other, "cfi-fp")
    assert build_id(rebuilt) != build_id(exe)
    return d, exe, core, before, corefs_cat(core, "stack").stdout, rebuilt


@pytest.fixture
def moved(made, tmp_path):
    """The executable moved away from where the core says; a directory holding it by name."""
    d, exe, core, before, stack, rebuilt = made
    keep = tmp_path / "keep"
    keep.mkdir()
    os.rename(exe, keep / exe.name)
    try:
        yield keep
    finally:
        os.rename(keep / exe.name, exe)


def files(j):
    return {f["path"]: f for f in j["files"]}


def test_found_by_name(made, moved, tmp_path):
    """A directory that lacks it, then one that holds it: taken from the second, every stack
    as it was, nothing missing."""
    d, exe, core, before, stack, _ = made
    empty = tmp_path / "empty"
    empty.mkdir()
    opt = f"--search-path={empty}:{moved}"
    j = core_json(core, opt)
    assert j["problems"] == [], j["problems"]
    f = files(j)[str(exe)]
    assert (f["disk_path"], f["status"], f["why"]) == (str(moved / exe.name), "same", FOUND), f
    assert [t["stack"] for t in j["threads"]] == [t["stack"] for t in before["threads"]]
    assert [t["stack_end"] for t in j["threads"]] == [t["stack_end"] for t in before["threads"]]
    assert corefs_cat(core, "stack", opt).stdout == stack
    # The two-argument form, and empty entries, say the same.
    assert core_json(core, "--search-path", f":{empty}::{moved}:") == j


def test_another_build_by_name_is_not_taken(made, moved, tmp_path):
    """Another build of the same name in the search path is not the file: passed over for the
    right one after it, and said so when there is no right one."""
    d, exe, core, before, stack, rebuilt = made
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    shutil.copy2(rebuilt, wrong / exe.name)
    j = core_json(core, f"--search-path={wrong}:{moved}")
    assert j["problems"] == [], j["problems"]
    assert files(j)[str(exe)]["disk_path"] == str(moved / exe.name)

    j = core_json(core, f"--search-path={wrong}")
    assert j["problems"] == [
        f"missing: mapped file {exe} ({exe}: {NOENT}; {wrong}/{exe.name} is not it ({WHY_OTHER}))"
    ], j["problems"]
    f = files(j)[str(exe)]
    assert (f["disk_path"], f["status"]) == (str(exe), "missing"), f
    assert all(fr["symbol"] is None for t in j["threads"] for fr in t["stack"]
               if fr["module"] == str(exe)), "another build's symbols were used"


def test_different_at_its_path(made, tmp_path):
    """Another build at the path the core names: the search path gives the mapped one back."""
    d, exe, core, before, stack, rebuilt = made
    keep = tmp_path / "keep"
    keep.mkdir()
    shutil.copy2(exe, keep / exe.name)
    shutil.copy2(rebuilt, exe)
    try:
        j = core_json(core, f"--search-path={keep}")
        assert j["problems"] == [], j["problems"]
        f = files(j)[str(exe)]
        assert (f["disk_path"], f["status"], f["why"]) == (str(keep / exe.name), "same", FOUND)
        assert corefs_cat(core, "stack", f"--search-path={keep}").stdout == stack
        # Without it: different, as before this option.
        assert core_json(core)["problems"] == [
            f"different: mapped file {exe} is not the file at {exe} ({WHY_OTHER})"]
    finally:
        shutil.copy2(keep / exe.name, exe)


def test_not_searched_when_in_place(made, tmp_path):
    """A file that is where the core says and is the mapped one is taken from there, whatever
    the search path holds."""
    d, exe, core, before, stack, rebuilt = made
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    shutil.copy2(rebuilt, wrong / exe.name)
    j = core_json(core, f"--search-path={wrong}")
    assert j["problems"] == [] and j["files"] == before["files"]


def test_exe_then_search_path(made, moved):
    """--exe is where the executable is looked for first, then the search path, one way for
    every file: a wrong --exe is passed over for the right file by name."""
    d, exe, core, before, stack, rebuilt = made
    j = core_json(core, f"--exe={rebuilt}", f"--search-path={moved}")
    assert j["problems"] == [], j["problems"]
    assert files(j)[str(exe)]["disk_path"] == str(moved / exe.name)
    j = core_json(core, f"--exe={rebuilt}")
    assert j["problems"] == [
        f"different: mapped file {exe} is not the file at {rebuilt} ({WHY_OTHER})"], j["problems"]


def test_directory_of_cores(made, moved):
    """A directory of cores takes a search path too (not --exe: its cores are of any program)."""
    d, exe, core, before, _, _ = made
    path = f"{before['pid']}/core.json"
    j = json.loads(corefs_cat(d, path).stdout)
    assert j["problems"] == [f"missing: mapped file {exe} ({exe}: {NOENT})"], j["problems"]
    j = json.loads(corefs_cat(d, path, f"--search-path={moved}").stdout)
    assert j["problems"] == [], j["problems"]
    assert files(j)[str(exe)]["disk_path"] == str(moved / exe.name)


def test_sysroot_does_not_fall_back_to_root(made, tmp_path):
    """A sysroot that holds the library but not the executable: the executable is missing
    there, though this machine has the very file at that path (no fallback to /); the search
    path is how this machine's directories are added, build-id checked."""
    d, exe, core, before, stack, _ = made
    sysroot = tmp_path / "sysroot"
    lib = d / "libbt_lib.so"
    (sysroot / str(d).lstrip("/")).mkdir(parents=True)
    shutil.copy2(lib, sysroot / str(lib).lstrip("/"))
    j = core_json(core, f"--sysroot={sysroot}")
    problems = set(j["problems"])
    assert f"missing: mapped file {exe} ({sysroot}{exe}: {NOENT})" in problems, problems
    assert files(j)[str(lib)]["status"] == "same"
    assert not [p for p in problems if str(lib) in p]

    # Every file back from this machine's directories, by name: all the same, no problem.
    dirs = sorted({os.path.dirname(f["path"]) for f in before["files"]})
    j = core_json(core, f"--sysroot={sysroot}", "--search-path=" + ":".join(dirs))
    assert j["problems"] == [], j["problems"]
    assert {p: f["status"] for p, f in files(j).items()} == \
        {p: f["status"] for p, f in files(before).items()}
    # Every frame as it was (names may differ: debug files are looked for under the sysroot).
    assert [[(f["pc"], f["module"]) for f in t["stack"]] for t in j["threads"]] == \
        [[(f["pc"], f["module"]) for f in t["stack"]] for t in before["threads"]]
    assert [t["stack_end"] for t in j["threads"]] == [t["stack_end"] for t in before["threads"]]


def test_search_path_errors(made, tmp_path):
    d, exe, core, _, _, _ = made
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    nowhere = tmp_path / "nowhere"
    p = subprocess.run([str(COREFS), f"--search-path={d}:{nowhere}", str(core), str(mnt)],
                       capture_output=True, timeout=30)
    one_line_error(p, f"--search-path {nowhere}", re.escape(NOENT))
    p = subprocess.run([str(COREFS), "--search-path", str(exe), str(core), str(mnt)],
                       capture_output=True, timeout=30)
    one_line_error(p, f"--search-path {exe}", re.escape("Not a directory"))
    assert not os.path.ismount(mnt) and os.listdir(mnt) == []
    usage = subprocess.run([str(COREFS), "--help"], capture_output=True, text=True).stdout
    assert re.search(r"^    --search-path=DIR\[:DIR\.\.\.\]$", usage, re.M), usage
