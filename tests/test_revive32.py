"""Revival of i386 cores on this x86_64 kernel (compat mode), and the refusal of the others.

Programs are built at test time with gcc -m32 (skipped when it cannot build or run them):
tests/progs/rv_crash.c crashes into kernel cores (four threads parked in system calls, bytes
planted at addresses it writes down); tests/progs/rv_fp32.c and rv_compute.c are gcore'd while
their threads wait.  Oracles, as in test_revive.py: gdb on the core against gdb attached to the
revived process (every register gdb reads from the core, backtraces, TLS variables, memory), and
what the programs print when they run on: rv_fp32's threads check their own x87 and SSE registers
and __thread variables, which the core holds only in its notes; rv_compute prints its sum.

What differs, each for its reason: a thread asleep through a restart block reads eax -514 where
the core has -516 (no core holds a restart block); gdb 13 cannot read this CPU's xstate note of a
kernel core, so it shows no FP registers there (only the process has them); k0-k7 are unavailable
in both cores and read 0 in the process; tids are new."""
import errno
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import build_prog, corpus_files, crash, mounted
from test_revive import (ATTACH, GDB, SLEEP_MS, command, end_process, expected_sum, proc_state,
                         read_control, revived, subreaper, wait_state)  # noqa: F401 (fixture)

ERESTARTNOHAND, ERESTART_RESTARTBLOCK = 514, 516
GENERAL = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags", "cs", "ss",
           "ds", "es", "fs", "gs")
FP = " ".join(["orig_eax", *(f"st{i}" for i in range(8)), "fctrl fstat ftag fiseg fioff foseg",
               "fooff fop mxcsr", *(f"xmm{i}" for i in range(8)), *(f"ymm{i}" for i in range(8))])
COMPUTE_N = 300000


def m32(tmp, name):
    """tests/progs/NAME.c built with gcc -m32 -msse2 into tmp, or a skip."""
    try:
        exe = build_prog(name, tmp, "-m32", "-msse2")
    except subprocess.CalledProcessError:
        pytest.skip("gcc -m32 cannot build here (apt-get install gcc-multilib)")
    return exe


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    d = tmp_path_factory.mktemp("rv32progs")
    return {name: m32(d, name) for name in ("rv_crash", "rv_fp32", "rv_compute")}


class View:
    """gdb's threads keyed by their struct pthread address: registers, backtrace, TLS values;
    and memory dumps."""

    def __init__(self, text):
        regs_part, rest = text.split("==bt==\n", 1)
        bt_part, rest = rest.split("==tls==\n", 1)
        tls_part, mem_part = rest.split("==mem==\n", 1)
        header = re.compile(r"^Thread \d+ \(Thread (0x[0-9a-f]+) \(LWP (\d+)\)[^\n]*:$", re.M)
        self.regs, self.bt, self.tls, self.lwp = {}, {}, {}, {}
        parts = header.split(regs_part)
        for i in range(1, len(parts), 3):
            self.lwp[parts[i]] = int(parts[i + 1])
            regs = self.regs.setdefault(parts[i], {})
            for line in parts[i + 2].splitlines():
                m = re.match(r"^([a-z][a-z0-9_]*)\s+(\S.*)$", line)
                if m:
                    regs[m[1]] = m[2].strip()
        parts = header.split(bt_part)
        for i in range(1, len(parts), 3):
            self.bt[parts[i]] = [re.sub(r"^#\d+\s+", "", f) for f in parts[i + 2].splitlines()
                                 if f.startswith("#")]
        parts = header.split(tls_part)
        for i in range(1, len(parts), 3):
            self.tls.setdefault(parts[i], []).extend(
                re.findall(r"^\$\d+ = (.*)$", parts[i + 2], re.M))
        self.mem = [line.split(":", 1)[1].split() for line in mem_part.splitlines()
                    if re.match(r"^0x[0-9a-f]+( <[^>]*>)?:", line)]


def gdb_view(target, addrs=(), tls=()):
    cmds = ["echo ==regs==\\n", "thread apply all info registers",
            f"thread apply all info registers {FP}", "echo ==bt==\\n", "thread apply all bt",
            "echo ==tls==\\n", *(f"thread apply all print {v}" for v in tls),
            "echo ==mem==\\n", *(f"x/16xb {a:#x}" for a in addrs)]
    args = [*GDB, *(ATTACH if target[0] == "-p" else ())]
    for c in cmds:
        args += ["-ex", c]
    p = subprocess.run([*args, *target], capture_output=True, text=True, timeout=180)
    assert "==mem==" in p.stdout, f"gdb failed: {p.stdout}\n{p.stderr}"
    return View(p.stdout.split("==regs==\n", 1)[1])


def assert_same(core, live, ctl, fp_in_core):
    """Every register gdb reads from the core reads the same in the process (but a restart
    block's eax); backtraces and TLS the same."""
    assert core.regs and sorted(core.regs) == sorted(live.regs), "not the same threads"
    lost = "\n".join(ctl.get("lost", []))
    for key, c in core.regs.items():
        l = live.regs[key]
        for name in GENERAL + (("st0", "xmm0", "mxcsr", "fctrl") if fp_in_core else ()):
            assert name in c and "<unavailable>" not in c[name], (key, name, c.get(name))
        for name, value in c.items():
            if "<unavailable>" in value:
                continue
            if (name == "eax" and int(value.split()[0], 16) == 2**32 - ERESTART_RESTARTBLOCK):
                assert int(l[name].split()[0], 16) == 2**32 - ERESTARTNOHAND
                assert f"thread {core.lwp[key]} was in a sleep" in lost
                continue
            assert l.get(name) == value, f"thread {key}: {name} core {value!r} live {l.get(name)!r}"
        assert core.bt[key] and core.bt[key] == live.bt[key], f"thread {key}: backtraces differ"
        assert core.tls.get(key) == live.tls.get(key), f"thread {key}: TLS differs"


def gdb_eval(pid, expr):
    p = subprocess.run([*GDB, *ATTACH, "-ex", "set scheduler-locking on", "-ex", f"print {expr}",
                        "-p", str(pid)], capture_output=True, text=True, timeout=120)
    m = re.search(r"^\$1 = (.*)$", p.stdout, re.M)
    assert m, f"gdb could not print {expr}: {p.stdout}\n{p.stderr}"
    return m[1]


def gcore_waiting(exe, d, *args):
    """Run exe until it says "ready" (its stdin a pipe nobody writes), gcore it, kill it."""
    r, w = os.pipe()
    p = subprocess.Popen([str(exe), *args], stdin=r, stderr=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, cwd=d)
    os.close(r)
    try:
        assert p.stderr.readline() == b"ready\n"
        g = subprocess.run([*GDB, "-p", str(p.pid), "-ex", f"gcore {d / 'core.gdb'}"],
                           capture_output=True, text=True, timeout=120)
        assert (d / "core.gdb").exists(), g.stdout + g.stderr
    finally:
        p.kill()
        p.wait()
        os.close(w)
    return d / "core.gdb"


@pytest.mark.parametrize("mode", ("main", "thread", "lib"))
def test_gdb_sees_what_it_sees_in_an_i386_core(progs, tmp_path, mode):
    exe = shutil.copy(progs["rv_crash"], tmp_path / "rv_crash")
    core, _ = crash(exe, tmp_path, mode, str(tmp_path / "record"))
    addrs = sorted(int(line.split()[1], 16)
                   for line in (tmp_path / "record").read_text().splitlines())
    core_view = gdb_view([str(exe), str(core)], addrs)
    with mounted(core) as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        assert ctl["state"] == ["stopped"] and proc_state(pid) == "T"
        assert "ELF 32-bit" in subprocess.run(["file", "-L", f"/proc/{pid}/exe"],
                                              capture_output=True, text=True).stdout
        live = gdb_view(["-p", str(pid)], addrs)
        assert_same(core_view, live, ctl, fp_in_core=False)
        assert len(core_view.regs) == (5 if mode == "thread" else 4)
        assert core_view.mem == live.mem
        assert len(live.mem) == 2 * len(addrs)
        assert gdb_eval(pid, '(unsigned long)strtoul("1841 and stuff", 0, 10)') == "1841"
        assert proc_state(pid) == "T"


def test_gdb_sees_what_it_sees_in_an_i386_gcore_core(progs, tmp_path):
    """gdb's gcore writes no NT_386_TLS: the threads' TLS is found in memory, and gdb reads the
    __thread variables and the FP registers it wrote as it reads them in the core."""
    exe = pathlib.Path(shutil.copy(progs["rv_fp32"], tmp_path / "rv_fp32"))
    core = gcore_waiting(exe, tmp_path)
    core_view = gdb_view([str(exe), str(core)], tls=("tls_k", "tls_scale"))
    with mounted(core) as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        assert not [l for l in ctl["lost"] if "TLS" in l], ctl["lost"]
        live = gdb_view(["-p", str(pid)], tls=("tls_k", "tls_scale"))
        assert_same(core_view, live, ctl, fp_in_core=True)
        assert len(core_view.regs) == 4
        assert sorted(core_view.tls.values()) == [["-1", "0"], ["0", "1.5"], ["1", "2.5"],
                                                  ["2", "3.5"]]


def test_i386_fp_registers_and_tls_resume(progs, tmp_path):
    """Each thread of rv_fp32 finds its x87 and SSE registers and its __thread variables as it
    left them when its read returns in the revived process."""
    exe = pathlib.Path(shutil.copy(progs["rv_fp32"], tmp_path / "rv_fp32"))
    core = gcore_waiting(exe, tmp_path)
    stdin, stdout = tmp_path / "in", tmp_path / "out"
    stdin.write_text("abc")
    with mounted(core) as mnt, revived(mnt, f"stdin={stdin} stdout={stdout}"):
        assert command(mnt, "resume") == 0
        ctl = wait_state(mnt, ("exited", "killed"))
        assert ctl["state"] == ["exited"] and ctl["exit"] == ["0"], ctl
    lines = stdout.read_text().splitlines()
    assert sorted(lines[:-1]) == ["thread 0 ok", "thread 1 ok", "thread 2 ok"], lines
    assert lines[-1] == "done"


def test_i386_gcored_computation_resumes_and_finishes(progs, tmp_path):
    exe = pathlib.Path(shutil.copy(progs["rv_compute"], tmp_path / "rv_compute"))
    core = gcore_waiting(exe, tmp_path, str(SLEEP_MS))
    stdin, stdout = tmp_path / "in", tmp_path / "out"
    stdin.write_text(f"{COMPUTE_N}\n")
    with mounted(core) as mnt, revived(mnt, f"stdin={stdin} stdout={stdout}"):
        assert command(mnt, "resume") == 0
        ctl = wait_state(mnt, ("exited", "killed"))
        assert ctl["state"] == ["exited"] and ctl["exit"] == ["0"], ctl
    assert stdout.read_text() == f"sum {COMPUTE_N} {expected_sum(COMPUTE_N)}\n"


@pytest.mark.parametrize("core, reason", [
    ("elfutils/cores/backtrace.aarch64.core",
     "revive: this core is of an aarch64 process (elf64-little); only x86_64 and i386 processes "
     "can be revived on this x86_64 machine"),
    ("elfutils/cores/backtrace.x32.core", "revive: this core is of an x32 process (elf32-little); "),
])
def test_other_architectures_are_refused(tmp_path, core, reason):
    path, = corpus_files(tmp_path, core)
    with mounted(path) as mnt:
        assert command(mnt, "revive") == errno.EINVAL
        ctl = read_control(mnt)
        assert ctl["state"] == ["core"] and "pid" not in ctl
        error, = ctl["error"]
        assert error.startswith(reason), error
        assert "\n" not in error
        if "x32" in core:	# which of the two depends on this kernel
            assert error.endswith(("this kernel runs no x32 program (it was built without "
                                   "CONFIG_X86_X32_ABI: an x32 system call fails with ENOSYS)",
                                   "x32 revival is not implemented")), error


def test_an_i386_core_without_its_executable_is_refused(tmp_path):
    """A 32-bit process is born only by exec'ing a 32-bit program: its own, here missing."""
    core, = corpus_files(tmp_path, "elfutils/cores/backtrace.i386.core")
    with mounted(core) as mnt:
        assert command(mnt, "revive") == errno.ENOENT
        ctl = read_control(mnt)
        assert ctl["state"] == ["core"] and "pid" not in ctl
        error, = ctl["error"]
        assert re.fullmatch(r"revive: the executable \S+ is not usable on this machine: an i386 "
                            r"process is revived by exec'ing its own 32-bit executable", error), error


def test_an_i386_core_of_another_machine_revives_with_its_executable(tmp_path):
    """elfutils' i386 core, its executable given by --exe: two threads, stopped; what could
    not be restored (its libc is not this machine's) is said."""
    core, exe = corpus_files(tmp_path, "elfutils/cores/backtrace.i386.core",
                             "elfutils/exec/backtrace.i386.exec")
    exe.chmod(0o755)
    with mounted(core, f"--exe={exe}") as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        assert ctl["state"] == ["stopped"] and proc_state(pid) == "T"
        assert len(ctl["tids"][0].split()) == 2
        assert os.readlink(f"/proc/{pid}/exe") == str(exe)
        assert any("struct pthread does not hold its tid" in l for l in ctl["lost"]), ctl["lost"]
