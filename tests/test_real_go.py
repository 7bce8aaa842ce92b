"""Go backtraces on a real Go program: call-frame tables from .debug_frame, and Go's own signal
return stub recognised as a signal frame.

tests/progs/go_crash.go is built by Debian's Go (/usr/bin/go, golang-go; no cgo, so the
executable is linked by Go's own linker and its call-frame tables are only in .debug_frame, with
no .eh_frame) and dies with GOTRACEBACK=crash, dumped by the kernel (SIGABRT):
* "quit": a goroutine locked to its thread spins in main.spin and gets SIGQUIT; every thread's
  runtime.sighandler prints its goroutine and registers, relays SIGQUIT to the next thread and
  sleeps, and the last one dies: every thread is inside the signal handler, its interrupted code
  past Go's runtime.sigreturn;
* "nil": the main goroutine dereferences nil three calls deep; the runtime's handler makes it call
  runtime.sigpanic, it panics, and the runtime raises SIGABRT, which its handler forwards
  (runtime.sigfwdgo) before dying of it; built once more as a position-independent executable
  (-buildmode=pie), whose .debug_frame addresses need the load bias.

Oracles, all independent of corefs:
* eu-stack on the same core: every frame it gives (up to Go's sigreturn stub, where it stops:
  it looks the stub's caller up one byte back), same pc, same name;
* gdb's backtrace (its Python API, as tests/test_stack.py drives it; gdb names Go functions from
  DWARF, without the ".abi0" of assembly functions' symbols): every frame up to the stub, which
  gdb does not recognise either (it shows "??" and then garbage), same pc and name;
* past the stub, what the Go runtime printed before dying: each SIGQUIT handler's "PC=" (the
  interrupted pc, on each thread the frame after the outermost signal frame), and each
  goroutine's traceback ("pc=" of each frame, GOTRACEBACK=crash), which corefs's frames below
  the signal frame must end with.
"""
import pathlib
import re
import signal
import subprocess

import pytest

from conftest import PROGS, crash, pt_loads
from test_stack import ENV, corefs_stacks, eu_stack, gdb_stacks

GO = pathlib.Path("/usr/bin/go")
pytestmark = pytest.mark.skipif(not GO.exists(), reason="Debian's golang-go is not installed")

SIGRETURN = "runtime.sigreturn.abi0"	# runtime.sigreturn__sigaction from Go 1.21


BUILDS = {"quit": ("quit", []), "nil": ("nil", []), "nil-pie": ("nil", ["-buildmode=pie"])}


@pytest.fixture(scope="module", params=list(BUILDS))
def go(request, tmp_path_factory):
    mode, flags = BUILDS[request.param]
    d = tmp_path_factory.mktemp(f"go-{request.param}")
    exe = d / "go_crash"
    env = dict(ENV, HOME=str(d), GOCACHE=str(d / "cache"), GOPATH=str(d / "gopath"),
               GOFLAGS="", GO111MODULE="", CGO_ENABLED="0", GOTOOLCHAIN="local")
    p = subprocess.run([str(GO), "build", *flags, "-o", str(exe), str(PROGS / "go_crash.go")],
                       cwd=d, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    core, p = crash(exe, d, mode, env=dict(ENV, GOTRACEBACK="crash"),
                    expect_signal=signal.SIGABRT)
    tid = int(re.search(r"^tid (\d+)$", p.stdout.decode(), re.M)[1])
    return mode, exe, core, tid, p.stderr.decode()


def go_printed(stderr):
    """The interrupted pcs of the SIGQUIT handlers; each goroutine traceback's pcs."""
    pcs = [int(x, 16) for x in re.findall(r"^PC=0x([0-9a-f]+) m=", stderr, re.M)]
    traces, cur = [], None
    for line in stderr.splitlines():
        if re.match(r"^goroutine \d+ \[", line):
            cur = []
            traces.append(cur)
        elif cur is not None and (m := re.search(r" pc=0x([0-9a-f]+)$", line)):
            cur.append(int(m[1], 16))
        elif not line:
            cur = None
    return pcs, [t for t in traces if t]


def after_signal(frames):
    """The frames below the outermost signal frame: the code the first signal interrupted."""
    last = max(i for i, f in enumerate(frames) if f.signal)
    return frames[last + 1:]


def test_the_tables_are_only_in_debug_frame(go):
    _, exe, _, _, _ = go
    out = subprocess.run(["readelf", "-hSW", str(exe)], capture_output=True, text=True).stdout
    assert ".debug_frame" in out
    assert ".eh_frame" not in out
    assert ("DYN (Position-Independent" in out) == ("pie" in exe.parent.name), out[:600]


def not_code(core, pc):
    """Whether pc - 1 lies in no executable PT_LOAD of the core (PF_X): a "return address"
    that is not one, as when a walk goes on past runtime.mcall's switch to the g0 stack
    into what the frame slot held.  eu-stack and gdb still name it after the data symbol
    below it (runtime.scavenger, a variable in .bss); corefs names only code."""
    return not any(l.flags & 1 and l.vaddr <= pc - 1 < l.vaddr + l.memsz
                   for l in pt_loads(core))


def test_go_stacks_equal_eu_stack_and_gdb(go, tmp_path):
    mode, exe, core, _, _ = go
    stacks, cj, _ = corefs_stacks(core)
    eu = eu_stack(core, exe)
    gdb = gdb_stacks(core, exe, tmp_path)
    assert set(stacks) == set(eu) == set(gdb)
    for tid, frames in stacks.items():
        names = [f.name for f in frames]
        # eu-stack: every frame it gives, the stub's by pc (it names its pc - 1: nothing).
        theirs = eu[tid]
        assert len(theirs) <= len(frames), (tid, theirs, names)
        for f, (pc, name) in zip(frames, theirs):
            assert f.pc == pc, (tid, f, pc, names)
            if not_code(core, pc):
                assert f.name is None and f is frames[-1], (tid, f, name, names)
                continue
            assert name is None and f.name == SIGRETURN or f.name == name, (tid, f, name)
        if not any(f.signal for f in frames):
            assert len(theirs) == len(frames), (tid, theirs, names)
        # gdb: every frame up to the stub, which it names "??" and does not unwind through;
        # on a thread without one, every frame (gdb adds an outermost frame of pc 0).
        # Calls the compiler inlined are frames of their own for gdb (INLINE_FRAME), not
        # for eu-stack without -i or corefs: left out.
        outer = [g for g in gdb[tid] if not g["inline"]]
        compared = 0
        for f in frames:
            assert compared < len(outer), (tid, outer, names)
            g = outer[compared]
            assert f.pc == g["pc"], (tid, f, g, names)
            if not_code(core, f.pc):
                assert f.name is None and f is frames[-1], (tid, f, g)
                compared += 1
                continue
            if g["name"] is None:
                assert f.name == SIGRETURN and f.signal, (tid, f)
                assert compared >= 4 and names[compared - 1] == "runtime.sigtramp.abi0"
                break
            assert f.name.removesuffix(".abi0") == g["name"], (tid, f, g)
            compared += 1
        else:
            assert [g["pc"] for g in outer[compared:]] in ([], [0]), (tid, outer)
        # Every frame but the outermost came from a call-frame table (.debug_frame).
        assert not [x for f in cj["threads"] if f["tid"] == tid
                    for x in f["stack"][:-1] if "no-cfi" in x.get("flags", [])]


def test_go_signal_frames_and_interrupted_code(go):
    mode, exe, core, tid, stderr = go
    stacks, cj, _ = corefs_stacks(core)
    pcs, traces = go_printed(stderr)
    crashing = stacks[cj["threads"][0]["tid"]]
    names = [f.name for f in crashing]
    assert cj["signal"]["name"] == "SIGABRT"
    for frames in stacks.values():
        for i, f in enumerate(frames):
            # Go's stub, and only it, is a signal frame; the next frame is the interrupted
            # code, named by its exact pc.
            assert f.signal == (f.name == SIGRETURN), f
            assert not f.signal or frames[i - 1].name == "runtime.sigtramp.abi0"
    if mode == "quit":
        # Every thread handled SIGQUIT: sighandler, then what it interrupted, the pc the
        # runtime printed for it.
        interrupted = []
        for t, frames in stacks.items():
            n = [f.name for f in frames]
            assert "runtime.sighandler" in n and "runtime.sigtrampgo" in n, (t, n)
            interrupted.append(after_signal(frames)[0].pc)
        assert sorted(interrupted) == sorted(pcs), (interrupted, pcs)
        assert "runtime.dieFromSignal" in names and "runtime.sighandler" in names, names
        spin = after_signal(stacks[tid])
        assert [f.name for f in spin] == ["main.spin", "main.main.func1", "runtime.goexit.abi0"]
        assert [f.pc for f in spin] in traces, (spin, traces)
    else:
        assert cj["threads"][0]["tid"] == tid
        for name in ("runtime.dieFromSignal", "runtime.sigfwdgo", "runtime.sigtrampgo",
                     "runtime.sigpanic", "main.innermost", "main.middle", "main.outer",
                     "main.main", "runtime.main", "runtime.goexit.abi0"):
            assert name in names, (name, names)
        below = [f.pc for f in after_signal(crashing)]
        # The panicking goroutine's traceback (gopanic ... goexit) ends corefs's stack.
        assert any(len(t) >= 8 and below[-len(t):] == t for t in traces), (below, traces)
