"""Why a stack ends (core.json's stack_end) where no call-frame table can help: code a program
made at run time, as a JIT compiler makes it, and saved registers that lead back to frames
already walked (a loop).

tests/progs/jit_loop.c, built by gcc and dumped by the kernel:
* "jit" writes a few instructions into an anonymous mapping, makes it executable, prints its
  address and calls it; the code clears rbp and loads from address 0.  Oracles: the address the
  program printed (frame #0 lies in it) and gdb's frame #0.
* "loop" rewrites, inside its SIGUSR1 handler, the ucontext the kernel saved so that it points
  back into the handler (its own rsp, and a pc just after reading it), then aborts.  Oracles:
  gdb stops there ("previous frame identical to this frame"), and eu-stack, which has no loop
  check, repeats the same frames up to its limit: corefs's frames are its first ones, and the
  frame corefs refuses to show again is the one eu-stack shows next.
"""
import re
import signal
import subprocess

import pytest

from conftest import PROGS, crash
from test_stack import ENV, corefs_stacks, eu_stack, gdb_stacks, run


@pytest.fixture(scope="module")
def exe(tmp_path_factory):
    d = tmp_path_factory.mktemp("jit-loop")
    run("gcc", "-O2", "-g", "-Wall", "-o", d / "jit_loop", PROGS / "jit_loop.c")
    return d / "jit_loop"


def test_jit_code_says_so(exe, tmp_path):
    core, p = crash(exe, tmp_path, "jit", expect_signal=signal.SIGSEGV)
    jit = int(re.search(r"^jit (0x[0-9a-f]+)$", p.stdout.decode(), re.M)[1], 16)
    stacks, cj, _ = corefs_stacks(core)
    frames = stacks[cj["pid"]]
    end = cj["threads"][0]["stack_end"]
    assert jit <= frames[0].pc < jit + 4096 and frames[0].module is None, (hex(jit), frames)
    assert frames[0].pc == gdb_stacks(core, exe, tmp_path)[cj["pid"]][0]["pc"]
    assert end.startswith(f"no call-frame information for {frames[-1].pc:#x}: code made at run "
                          "time (as a JIT compiler makes it)"), end
    assert "by frame pointers: " in end


def test_a_loop_says_so(exe, tmp_path):
    core, _ = crash(exe, tmp_path, "loop", expect_signal=signal.SIGABRT)
    stacks, cj, _ = corefs_stacks(core)
    frames = stacks[cj["pid"]]
    end = cj["threads"][0]["stack_end"]
    m = re.match(r"a loop: the caller of #(\d+) is #(\d+) again \(pc (0x[0-9a-f]+), sp "
                 r"(0x[0-9a-f]+)\)", end)
    assert m, end
    last, again = int(m[1]), int(m[2])
    assert last == len(frames) - 1 and again < last
    assert int(m[3], 16) == frames[again].pc
    eu = eu_stack(core, exe)[cj["pid"]]
    assert len(eu) > len(frames) + 8, eu
    assert [pc for pc, _ in eu[:len(frames)]] == [f.pc for f in frames]
    # eu-stack goes round: the frame corefs does not show again is the one eu-stack shows next,
    # and the cycle repeats from there.
    period = len(frames) - again
    assert [pc for pc, _ in eu[len(frames):len(frames) + 2 * period]] == \
        [f.pc for f in frames[again:]] * 2
    names = [f.name for f in frames]
    assert names[:4] == [names[0], "raise", "abort", "on_usr1"] and "__restore_rt" in names
    p = subprocess.run(["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off", "-ex",
                        "bt", str(exe), str(core)], capture_output=True, text=True, env=ENV)
    assert "previous frame identical to this frame" in p.stdout + p.stderr
