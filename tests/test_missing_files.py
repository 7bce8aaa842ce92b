"""A core whose executable is not here, or not the one that ran (issue 11, item 6): core.json's
`problems` says so, one sentence per file; `stack_end` says the stack ended for want of the
file's call-frame table; `--exe FILE` gives the executable back, build-id checked.

The cores are made as tests/test_fill_args.py makes them: the program (bt_threads with its
library, tables but no frame pointers, so a frame-pointer guess cannot stand in for the missing
tables) dies into a kernel core, then its executable is moved away or rebuilt with other code at
the same path.  The oracles: the same core read while the executable was still in place (the
stacks `--exe` must give back, and how far each stack went with the file), and the build-ids
the files hold (readelf -n)."""
import json
import os
import re
import shutil
import signal
import subprocess

import pytest

from conftest import COREFS, corefs_cat, crash, one_line_error
from test_stack import build_threads, guesses, parse_stack, run

NOENT = "No such file or directory"


def core_json(core, *opts):
    return json.loads(corefs_cat(core, "core.json", *opts).stdout)


def build_id(path):
    return re.search(r"Build ID: ([0-9a-f]+)", run("readelf", "-n", path).stdout)[1]


@pytest.fixture(scope="module")
def dumped(tmp_path_factory):
    """(dir, exe, core, what corefs said with the executable in place)."""
    d = tmp_path_factory.mktemp("missing-exe")
    exe, _ = build_threads(d, "cfi-nofp")
    core, _ = crash(exe, d, "crash", expect_signal=signal.SIGSEGV)
    before = core_json(core)
    assert before["problems"] == [], before["problems"]
    return d, exe, core, before, corefs_cat(core, "stack").stdout


def stacks(j):
    return {t["tid"]: t for t in j["threads"]}


def check_stack_file(core, j, *opts):
    """The stack file is core.json's stacks, each frame found by a guess marked so."""
    text = corefs_cat(core, "stack", *opts).stdout.decode()
    blocks = text[:-1].split("\n\n")
    assert len(blocks) == len(j["threads"])
    for block, t in zip(blocks, j["threads"]):
        header, _, lines = block.partition("\n")
        assert header.startswith(f"TID {t['tid']} ("), header
        frames = parse_stack(lines)
        assert [f.pc for f in frames] == [int(f["pc"], 16) for f in t["stack"]]
        assert [f.guessed for f in frames] == guesses(t["stack"])


def check_ends_explained(j, before, exe, state):
    """Every stack whose last frame lies in the executable ends saying why; at least one does,
    and it went further while the file was there."""
    explained = 0
    for tid, t in stacks(j).items():
        last = t["stack"][-1]
        if last["module"] != str(exe):
            assert not t["stack_end"].startswith("no call-frame information"), t["stack_end"]
            continue
        assert "no-cfi" in last["flags"], last
        prefix = f"no call-frame information for {last['pc']}: {exe} is {state}; by frame pointers: "
        assert t["stack_end"].startswith(prefix), (t["stack_end"], prefix)
        assert len(stacks(before)[tid]["stack"]) > len(t["stack"]), tid
        explained += 1
    assert explained >= 1, [t["stack_end"] for t in j["threads"]]


def test_moved_executable(dumped, tmp_path):
    d, exe, core, before, stack_before = dumped
    moved = tmp_path / "moved-away"
    shutil.copy2(exe, moved)
    os.rename(exe, tmp_path / "gone")
    try:
        j = core_json(core)
        assert j["problems"] == [f"missing: mapped file {exe} ({exe}: {NOENT})"], j["problems"]
        check_ends_explained(j, before, exe, f"missing ({exe}: {NOENT})")
        check_stack_file(core, j)

        # --exe: the file the executable now is; every stack as it was, nothing missing.
        j = core_json(core, f"--exe={moved}")
        assert j["problems"] == [], j["problems"]
        f = {f["path"]: f for f in j["files"]}[str(exe)]
        assert (f["disk_path"], f["status"]) == (str(moved), "same"), f
        assert [t["stack_end"] for t in j["threads"]] == \
            [t["stack_end"] for t in before["threads"]]
        assert corefs_cat(core, "stack", "--exe", str(moved)).stdout == stack_before
    finally:
        os.rename(tmp_path / "gone", exe)


def test_rebuilt_executable(dumped, tmp_path):
    d, exe, core, before, stack_before = dumped
    saved = tmp_path / "bt_threads.orig"
    shutil.copy2(exe, saved)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy2(d / "libbt_lib.so", other)
    rebuilt, _ = build_threads(other, "cfi-fp")  # other code, another build-id
    assert build_id(rebuilt) != build_id(saved)
    shutil.copy2(rebuilt, exe)
    try:
        why = "build-id differs from the core's"
        j = core_json(core)
        assert j["problems"] == [f"different: mapped file {exe} is not the file at {exe} ({why})"], \
            j["problems"]
        check_ends_explained(j, before, exe, f"not the mapped file ({why})")
        check_stack_file(core, j)

        # --exe is checked like any other file: a wrong one is refused use and said so.
        j = core_json(core, f"--exe={rebuilt}")
        assert j["problems"] == [
            f"different: mapped file {exe} is not the file at {rebuilt} ({why})"], j["problems"]
        assert {f["path"]: f for f in j["files"]}[str(exe)]["status"] == "different"
        assert all(f["symbol"] is None for t in j["threads"] for f in t["stack"]
                   if f["module"] == str(exe)), "a different file's symbols were used"

        # --exe of the right build (the saved original) gives every stack back.
        assert corefs_cat(core, "stack", f"--exe={saved}").stdout == stack_before
        assert core_json(core, f"--exe={saved}")["problems"] == []
    finally:
        shutil.copy2(saved, exe)


def test_no_problem_for_files_in_place(dumped):
    """The libraries stay in place: no sentence for them, and none for a core whose files are
    all here (the fixture's own check); a sysroot that holds nothing makes every file missing,
    each with its sentence."""
    d, exe, core, before, _ = dumped
    empty = d / "empty-sysroot"
    empty.mkdir(exist_ok=True)
    j = core_json(core, f"--sysroot={empty}")
    want = sorted(f"missing: mapped file {f['path']} ({empty}{f['path']}: {NOENT})"
                  for f in before["files"])
    assert sorted(j["problems"]) == want


def test_exe_option_errors(dumped, tmp_path):
    d, exe, core, _, _ = dumped
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    nowhere = tmp_path / "nowhere"
    p = subprocess.run([str(COREFS), "--exe", str(nowhere), str(core), str(mnt)],
                       capture_output=True, timeout=30)
    one_line_error(p, f"--exe {nowhere}", re.escape(NOENT))
    p = subprocess.run([str(COREFS), "--exe", str(exe), str(d), str(mnt)], capture_output=True,
                       timeout=30)
    one_line_error(p, d, re.escape("--exe takes one core, not a directory"))
    assert not os.path.ismount(mnt) and os.listdir(mnt) == []
    usage = subprocess.run([str(COREFS), "--help"], capture_output=True, text=True).stdout
    assert re.search(r"^    --exe=FILE ", usage, re.M), usage
