"""Revival (`echo revive > control`): the core becomes a real, group-stopped process.

Oracles are gdb and the programs themselves: gdb on the core (`gdb EXE CORE`) against gdb
attached to the revived process (`gdb -p PID`), the bytes tests/progs/rv_crash.c planted at
addresses it wrote down, the result tests/progs/rv_compute.c prints when it runs on, and the
kernel's own /proc/PID files of the revived process against the mount's.

What a revived process cannot show as the core does is asserted as such, each with its reason
(README, "revive"): a thread that slept through a restart block reads rax -514 where the core has
-516; gdb 13 cannot read this CPU's 2432-byte xstate note of a kernel core (it wants 2688 bytes)
and shows those registers as <unavailable> in the core only; a gcore core's AVX-512 state is in
gdb's layout, not this CPU's, and is reported lost; without pidns tids are new.

Every revived process is killed and reaped before its test ends, every mount is unmounted.
"""
import contextlib
import ctypes
import errno
import hashlib
import os
import pathlib
import re
import shutil
import signal
import stat
import struct
import subprocess
import tempfile
import time

import pytest

from conftest import (COREFS, build_prog, corpus_files, crash, mounted, nobody_mount, pt_loads,
                      wait_until)

GDB = ["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off", "-ex", "set pagination off"]
ATTACH = ["-ex", "handle SIGSTOP nostop noprint nopass"]
PR_SET_CHILD_SUBREAPER = 36
SIGUSR1_BIT, SIGUSR2_BIT = 1 << (signal.SIGUSR1 - 1), 1 << (signal.SIGUSR2 - 1)
ERESTARTNOHAND, ERESTART_RESTARTBLOCK = 514, 516
SLEEP_MS = 2500
COMPUTE_N = 3000000
# AVX-512 registers as gdb names them: a gcore core holds them in gdb's layout, not this CPU's.
AVX512 = re.compile(r"^(k[0-7]|zmm\d+|[xy]mm(1[6-9]|2\d|3[01]))$")


@pytest.fixture(scope="module", autouse=True)
def subreaper():
    """Processes that outlive their mount come to this process (not to an init that may never
    reap them), so the tests can reap what they revive."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    yield
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


# --- the control file -----------------------------------------------------------------------------

def read_control(mnt):
    """{key: [value, ...]} from the control file."""
    out = {}
    for line in (mnt / "control").read_text().splitlines():
        key, _, value = line.partition(" ")
        out.setdefault(key, []).append(value)
    return out


def command(mnt, line):
    """Write one command; 0 or the errno the write failed with."""
    try:
        fd = os.open(mnt / "control", os.O_WRONLY | os.O_TRUNC)
    except OSError as e:
        return e.errno
    try:
        os.write(fd, (line + "\n").encode())
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def alive(pid):
    """Whether pid exists and is not a zombie."""
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def proc_state(pid):
    return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def end_process(pid, mnt=None):
    """Kill a revived process and reap it: through control while mounted (the mount is its
    parent), else directly (it came to this subreaper when its mount went)."""
    mounted_now = mnt is not None and os.path.ismount(mnt)
    if mounted_now and alive(pid):
        assert command(mnt, "kill") == 0, read_control(mnt)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pathlib.Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        if mounted_now:
            read_control(mnt)	# the mount, its parent, collects its end when asked its state
        else:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.01)
    assert not pathlib.Path(f"/proc/{pid}").exists(), f"revived process {pid} left behind"


@contextlib.contextmanager
def revived(mnt, args=""):
    """Revive; yield the control file's keys; kill and reap at the end."""
    err = command(mnt, f"revive {args}".strip())
    ctl = read_control(mnt)
    assert err == 0, f"revive failed ({os.strerror(err)}): {ctl}"
    pid = int(ctl["pid"][0])
    try:
        yield ctl
    finally:
        end_process(pid, mnt)


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


# --- gdb's view -------------------------------------------------------------------------------------

class View:
    """What gdb shows of a core or a process: threads keyed by their struct pthread address (the
    same in both), each with its LWP, registers (name -> text) and backtrace; memory dumps."""

    def __init__(self, text):
        self.text = text
        regs_part, rest = text.split("==bt==\n", 1)
        bt_part, mem_part = rest.split("==mem==\n", 1)
        header = re.compile(r"^Thread \d+ \(Thread (0x[0-9a-f]+) \(LWP (\d+)\)[^\n]*:$", re.M)
        self.lwp, self.regs, self.bt = {}, {}, {}
        parts = header.split(regs_part)
        for i in range(1, len(parts), 3):
            key, lwp, body = parts[i], int(parts[i + 1]), parts[i + 2]
            self.lwp[key] = lwp
            regs = self.regs.setdefault(key, {})
            for line in body.splitlines():
                m = re.match(r"^([a-z][a-z0-9_]*)\s+(\S.*)$", line)
                if m:
                    regs[m[1]] = m[2].strip()
        parts = header.split(bt_part)
        for i in range(1, len(parts), 3):
            frames = [re.sub(r"^#\d+\s+", "", f) for f in parts[i + 2].splitlines()
                      if f.startswith("#")]
            self.bt[parts[i]] = frames
        self.mem = [line.split(":", 1)[1].split() for line in mem_part.splitlines()
                    if re.match(r"^0x[0-9a-f]+( <[^>]*>)?:", line)]

    def value(self, key, name):
        """A register's value as an integer (its raw hex)."""
        return int(self.regs[key][name].split()[0], 16)


# gdb's `info all-registers` stops after zmm31 on this machine (for a core and a process alike):
# the default set (general registers, k0-k7), then the rest by name.
MORE_REGS = " ".join(["fs_base gs_base orig_rax", *(f"st{i}" for i in range(8)), "fctrl fstat ftag fiseg fioff",
                      "foseg fooff fop mxcsr", *(f"xmm{i}" for i in range(16)),
                      *(f"ymm{i}" for i in range(16))])


def gdb_view(target, addrs=()):
    cmds = ["info threads", "echo ==regs==\\n", "thread apply all info registers",
            f"thread apply all info registers {MORE_REGS}",
            "echo ==bt==\\n", "thread apply all bt", "echo ==mem==\\n",
            *(f"x/16xb {a:#x}" for a in addrs)]
    args = [*GDB, *(ATTACH if target[0] == "-p" else ())]
    for c in cmds:
        args += ["-ex", c]
    p = subprocess.run([*args, *target], capture_output=True, text=True, timeout=180)
    assert "==mem==" in p.stdout, f"gdb failed: {p.stdout}\n{p.stderr}"
    return View(p.stdout.split("==regs==\n", 1)[1])


def gdb_eval(pid, expr):
    """Print expr in the process; only the current thread runs for calls (the others would run
    on into the fault the core recorded)."""
    p = subprocess.run([*GDB, *ATTACH, "-ex", "set scheduler-locking on", "-ex", f"print {expr}",
                        "-p", str(pid)],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"^\$1 = (.*)$", p.stdout, re.M)
    assert m, f"gdb could not print {expr}: {p.stdout}\n{p.stderr}"
    return m[1]


def assert_same_threads_and_registers(core, live, ctl, gcore):
    """Every register gdb can read from the core reads the same in the process, save what the
    module docstring lists; backtraces are the same."""
    assert sorted(core.regs) == sorted(live.regs), "not the same threads (by pthread address)"
    lost = "\n".join(ctl.get("lost", []))
    for key in core.regs:
        c, l = core.regs[key], live.regs[key]
        for name in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r15", "rip",
                     "eflags", "cs", "ss", "fs_base", "gs_base", "orig_rax", "xmm0", "mxcsr",
                     "st0", "fctrl"):
            assert name in c and "<unavailable>" not in c[name], (key, name, c.get(name))
        for name, value in c.items():
            if "<unavailable>" in value:
                continue	# gdb could not read it from the core: nothing to compare with
            if (name == "rax" and core.value(key, "rax") == 2**64 - ERESTART_RESTARTBLOCK and
                    core.value(key, "orig_rax") < 2**63):
                assert live.value(key, "rax") == 2**64 - ERESTARTNOHAND, (key, l[name])
                assert f"thread {core.lwp[key]} was in a sleep" in lost
                continue
            if gcore and AVX512.match(name):
                assert "AVX-512" in lost
                continue
            assert l.get(name) == value, f"thread {key}: {name} core {value!r} live {l.get(name)!r}"
        assert core.bt[key] == live.bt[key], f"thread {key}: backtraces differ"
        assert core.bt[key], f"thread {key}: no backtrace"


# --- the programs and their cores -------------------------------------------------------------------

MODES = ("main", "thread", "lib", "abort")


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    d = tmp_path_factory.mktemp("rvprogs")
    return {"crash": build_prog("rv_crash", d), "compute": build_prog("rv_compute", d)}


class Dead:
    def __init__(self, exe, core, record, gcore):
        self.exe, self.core, self.gcore = exe, core, gcore
        self.addrs = {}
        if record:
            for line in record.read_text().splitlines():
                name, addr = line.split()
                self.addrs[name] = int(addr, 16)


@pytest.fixture(scope="module")
def crashed(progs, tmp_path_factory):
    cache = {}

    def get(mode):
        if mode not in cache:
            d = tmp_path_factory.mktemp(f"rv-{mode}")
            exe = shutil.copy(progs["crash"], d / "rv_crash")
            core, _ = crash(exe, d, mode, str(d / "record"))
            cache[mode] = Dead(pathlib.Path(exe), core, d / "record", False)
        return cache[mode]
    return get


def gcore_running(exe, d):
    """Run rv_compute until its threads are parked, gcore it, kill it; the core's path."""
    core = d / "core.gdb"
    r, w = os.pipe()
    p = subprocess.Popen([str(exe), str(SLEEP_MS)], stdin=r, stderr=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, cwd=d)
    os.close(r)
    try:
        assert p.stderr.readline() == b"ready\n"
        g = subprocess.run([*GDB, "-p", str(p.pid), "-ex", f"gcore {core}"], capture_output=True,
                           text=True, timeout=120)
        assert core.exists(), g.stdout + g.stderr
    finally:
        p.kill()
        p.wait()
        os.close(w)
    return core


@pytest.fixture(scope="module")
def gcored(progs, tmp_path_factory):
    d = tmp_path_factory.mktemp("rv-gcore")
    exe = pathlib.Path(shutil.copy(progs["compute"], d / "rv_compute"))
    return Dead(exe, gcore_running(exe, d), None, True)


# --- the process looks like the core --------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_gdb_sees_what_it_sees_in_the_core(crashed, mode):
    dead = crashed(mode)
    addrs = sorted(dead.addrs.values())
    before = sha256(dead.core)
    core_view = gdb_view([str(dead.exe), str(dead.core)], addrs)
    with mounted(dead.core) as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        assert ctl["state"] == ["stopped"] and proc_state(pid) == "T"
        live = gdb_view(["-p", str(pid)], addrs)
        assert_same_threads_and_registers(core_view, live, ctl, gcore=False)
        assert core_view.mem == live.mem and len(live.mem) == 2 * len(addrs)
        assert gdb_eval(pid, '(unsigned long)strtoul("1841 and stuff", 0, 10)') == "1841"
        # gdb left it stopped as it found it
        assert proc_state(pid) == "T" and read_control(mnt)["state"] == ["stopped"]
    assert sha256(dead.core) == before


def test_gdb_sees_what_it_sees_in_a_gcore_core(gcored):
    before = sha256(gcored.core)
    core_view = gdb_view([str(gcored.exe), str(gcored.core)])
    with mounted(gcored.core) as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        live = gdb_view(["-p", str(pid)])
        assert_same_threads_and_registers(core_view, live, ctl, gcore=True)
        assert len(core_view.regs) == 6
        assert gdb_eval(pid, '(unsigned long)strtoul("1841 and stuff", 0, 10)') == "1841"
    assert sha256(gcored.core) == before


def maps_runs(text, own_files):
    """maps as runs of (start, end, perms, what): adjacent lines of equal perms and kind joined
    (the kernel merges what it can).  `what` is the path of a mapped file with its offset, the
    name of a special mapping, or "anon": anonymous memory, which a revived process may map
    from the core file or a loop device over it (own_files)."""
    runs = []
    for line in text.splitlines():
        f = line.split(maxsplit=5)
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        name = f[5] if len(f) > 5 else ""
        if name.startswith("/") and name not in own_files and not name.startswith("/dev/loop"):
            what = (name, int(f[2], 16) - lo)
        elif name in ("[stack]", "[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]"):
            what = name
        else:
            what = "anon"
        if runs and runs[-1][1] == lo and runs[-1][2] == f[1] and runs[-1][3] == what:
            runs[-1][1] = hi
        else:
            runs.append([lo, hi, f[1], what])
    return runs


@pytest.mark.parametrize("kind", ("kernel", "gcore"))
def test_proc_files_match_the_mount(crashed, gcored, kind):
    dead = crashed("main") if kind == "kernel" else gcored
    with mounted(dead.core) as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        proc = pathlib.Path(f"/proc/{pid}")
        mine = maps_runs((mnt / "maps").read_text(), ())
        theirs = maps_runs((proc / "maps").read_text(), (str(dead.core),))
        if kind == "gcore":
            # gcore leaves [vvar] out; the kernel's own moved with its vDSO, right below it
            vvar = [r for r in theirs if r[3] in ("[vvar]", "[vvar_vclock]")]
            vdso = next(r for r in theirs if r[3] == "[vdso]")
            assert vvar and vvar[-1][1] == vdso[0]
            assert not [r for r in mine if r[3] in ("[vvar]", "[vvar_vclock]")]
            theirs = [r for r in theirs if r not in vvar]
            # gcore writes the kernel's [vsyscall] page (--xp) as readable
            for r in mine:
                if r[3] == "[vsyscall]" and r[2] == "r-xp":
                    r[2] = "--xp"
        assert theirs == mine
        assert (proc / "auxv").read_bytes() == (mnt / "auxv").read_bytes()
        assert (proc / "cmdline").read_bytes() == (mnt / "cmdline").read_bytes() != b""
        assert (proc / "environ").read_bytes() == (mnt / "environ").read_bytes() != b""
        assert os.readlink(proc / "exe") == os.readlink(mnt / "exe") == str(dead.exe)
        assert (proc / "comm").read_text() == (mnt / "comm").read_text()
        # its own session, nothing ignored or caught, only fds 0-2, all on /dev/null
        stat_fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        assert int(stat_fields[3]) == pid, "setsid: the process leads its own session"
        status = (proc / "status").read_text()
        assert re.search(r"^SigIgn:\s+0+$", status, re.M)
        assert re.search(r"^SigCgt:\s+0+$", status, re.M)
        fds = sorted(int(f) for f in os.listdir(proc / "fd"))
        assert fds == [0, 1, 2]
        assert all(os.readlink(proc / "fd" / str(f)) == "/dev/null" for f in fds)
        # malloc can grow the heap: brk continues from where the core's heap ends
        assert int(gdb_eval(pid, "(long)sbrk(1<<20) > 0")) == 1


def test_signal_masks_are_the_cores(crashed):
    """Kernel cores carry each thread's blocked set: rv_crash's main thread and its threads
    block SIGUSR1, the sleeper also SIGUSR2."""
    dead = crashed("thread")
    core_view = gdb_view([str(dead.exe), str(dead.core)])
    with mounted(dead.core) as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        live = gdb_view(["-p", str(pid)])
        seen = set()
        for key, lwp in live.lwp.items():
            status = pathlib.Path(f"/proc/{pid}/task/{lwp}/status").read_text()
            blocked = int(re.search(r"^SigBlk:\s+([0-9a-f]+)$", status, re.M)[1], 16)
            sleeping = any("nanosleep" in f for f in core_view.bt[key])
            assert blocked == SIGUSR1_BIT | (SIGUSR2_BIT if sleeping else 0), (key, hex(blocked))
            seen.add(sleeping)
        assert seen == {True, False}


def test_an_exited_main_thread_stays_a_zombie(crashed):
    """The core of a process whose main thread had exited has no thread with the pid: the
    leader is made, then exits again, a zombie as it was; the rest runs on into its fault."""
    dead = crashed("leader")
    core_view = gdb_view([str(dead.exe), str(dead.core)])
    with mounted(dead.core) as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        tids = [int(t) for t in ctl["tids"][0].split()]
        assert len(tids) == len([k for k in core_view.regs if "rip" in core_view.regs[k] and
                                 "<unavailable>" not in core_view.regs[k]["rip"]]) + 1
        assert proc_state(pid) == "Z"
        assert all(pathlib.Path(f"/proc/{pid}/task/{t}/stat").read_text().rsplit(")", 1)[1]
                   .split()[0] == "T" for t in tids if t != pid)
        assert any("main thread" in line and "had exited" in line for line in ctl["lost"])
        assert command(mnt, "resume") == 0
        ctl = wait_state(mnt, ("killed", "exited"))
        assert ctl["state"] == ["killed"] and ctl["signal"] == ["SIGSEGV"]


PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH = 0x4206, 0x4207, 17
PTRACE_GET_RSEQ_CONFIGURATION = 0x420f
WALL = 0x40000000
SYS_get_robust_list = 274


def kernel_registrations(tid):
    """What the kernel holds for a thread: (robust list head, its length) from
    get_robust_list(), (rseq area, length, signature) from PTRACE_GET_RSEQ_CONFIGURATION."""
    libc = ctypes.CDLL(None, use_errno=True)
    head, size = ctypes.c_uint64(), ctypes.c_size_t()
    assert libc.syscall(SYS_get_robust_list, tid, ctypes.byref(head), ctypes.byref(size)) == 0
    conf = (ctypes.c_uint8 * 24)()
    assert libc.ptrace(PTRACE_SEIZE, tid, None, None) == 0, os.strerror(ctypes.get_errno())
    try:
        assert libc.ptrace(PTRACE_INTERRUPT, tid, None, None) == 0
        os.waitpid(tid, WALL)
        assert libc.ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, ctypes.c_void_p(24), conf) == 24
    finally:
        libc.ptrace(PTRACE_DETACH, tid, None, None)
    pointer, length, sig = struct.unpack_from("<QII", bytes(conf))
    return (head.value, size.value), (pointer, length, sig)


def test_glibc_registrations_are_made_again(crashed):
    """Every thread's robust list head and rseq area are registered with the kernel again, where
    the target's glibc keeps them: the head inside the thread's struct pthread, pointing at
    itself (no robust mutex is held), the rseq area at the thread pointer + __rseq_offset."""
    dead = crashed("main")
    with mounted(dead.core) as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        live = gdb_view(["-p", str(pid)])
        rseq_offset = int(gdb_eval(pid, "(long)__rseq_offset"))
        rseq_size = int(gdb_eval(pid, "__rseq_size"))
        pthread_size = int(gdb_eval(pid, "_thread_db_sizeof_pthread"))
        assert len(live.lwp) == 4
        with open(f"/proc/{pid}/mem", "rb") as mem:
            for key, lwp in live.lwp.items():
                tp = live.value(key, "fs_base")
                (head, size), (area, length, sig) = kernel_registrations(lwp)
                assert size == 24 and tp <= head < tp + pthread_size, (lwp, hex(head))
                mem.seek(head)
                assert struct.unpack("<Q", mem.read(8))[0] == head
                assert area == tp + rseq_offset and length == max(rseq_size, 32)
                assert sig == 0x53053053
        # A detached thread of a group-stopped process runs for a moment (R) and stops again
        # (__ptrace_unlink re-arms the group stop): it must be back in the stop, not running on.
        wait_until(lambda: proc_state(pid) == "T", "looking left it stopped", deadline=5)
        time.sleep(0.2)
        assert proc_state(pid) == "T" and read_control(mnt)["state"] == ["stopped"]


def test_rss_after_revival_is_small(crashed):
    """rv_crash touched 64 MiB that the core holds: none of it is copied."""
    dead = crashed("main")
    with mounted(dead.core) as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
        rss_kb = int(re.search(r"^VmRSS:\s+(\d+) kB$", status, re.M)[1])
        assert rss_kb < 1024, f"RSS {rss_kb} kB right after revival"


# --- it runs on -----------------------------------------------------------------------------------

def expected_sum(n):
    return (n - 1) * n * (2 * n - 1) // 6 + n


def wait_state(mnt, states, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ctl = read_control(mnt)
        if ctl["state"][0] in states:
            return ctl
        time.sleep(0.05)
    raise AssertionError(f"still {read_control(mnt)['state']} after {timeout}s")


@pytest.mark.parametrize("pidns", (False, True))
def test_gcored_computation_resumes_and_finishes(gcored, tmp_path, pidns):
    """Threads gcore caught in read, nanosleep and futex waits run on to the right result."""
    stdin, stdout = tmp_path / "in", tmp_path / "out"
    stdin.write_text(f"{COMPUTE_N}\n")
    with mounted(gcored.core) as mnt, \
            revived(mnt, f"stdin={stdin} stdout={stdout}{' pidns' if pidns else ''}") as ctl:
        pid = int(ctl["pid"][0])
        assert os.readlink(f"/proc/{pid}/fd/0") == str(stdin)
        assert command(mnt, "resume") == 0
        assert read_control(mnt)["state"][0] in ("running", "exited")
        ctl = wait_state(mnt, ("exited", "killed"))
        assert ctl["state"] == ["exited"] and ctl["exit"] == ["0"], ctl
        assert "tids" not in ctl
    assert stdout.read_text() == f"sum {COMPUTE_N} {expected_sum(COMPUTE_N)}\n"


def test_stop_resume_kill(gcored, tmp_path):
    stdin = tmp_path / "in"
    stdin.write_text("5\n")
    with mounted(gcored.core) as mnt, revived(mnt, f"stdin={stdin}") as ctl:
        pid = int(ctl["pid"][0])
        assert command(mnt, "resume") == 0 and read_control(mnt)["state"] == ["running"]
        assert proc_state(pid) in "RS"
        assert command(mnt, "stop") == 0 and read_control(mnt)["state"] == ["stopped"]
        assert proc_state(pid) == "T"
        assert command(mnt, "kill") == 0
        ctl = read_control(mnt)
        assert ctl["state"] == ["killed"] and ctl["signal"] == ["SIGKILL"], ctl
        assert not pathlib.Path(f"/proc/{pid}").exists(), "killed but not reaped"
        assert command(mnt, "resume") == errno.ESRCH
        assert "has ended" in read_control(mnt)["error"][0]


def test_gcore_of_the_revived_process_is_the_core(gcored, tmp_path):
    """gcore of the revived process holds the original core's memory and registers.  Two kinds
    of words differ, each checked for what it must hold: glibc's cached tid in every thread's
    struct pthread (the old tid in the core, the new one after), and the cpu ids the kernel
    writes into every registered rseq area.  (No pidns here: gdb 13's gcore mixes up host and
    namespace tids.)"""
    again = tmp_path / "again.core"
    old_view = gdb_view([str(gcored.exe), str(gcored.core)])
    with mounted(gcored.core) as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        rseq_offset = int(gdb_eval(pid, "(long)__rseq_offset"))
        tid_offset = int(gdb_eval(pid, "_thread_db_pthread_tid[2]"))
        live = gdb_view(["-p", str(pid)])
        g = subprocess.run([*GDB, *ATTACH, "-ex", f"gcore {again}", "-p", str(pid)],
                           capture_output=True, text=True, timeout=180)
        assert again.exists(), g.stdout + g.stderr
    old, new = segments(gcored.core), segments(again)
    for key in live.regs:
        pd = live.value(key, "fs_base")
        assert read_at(old, pd + tid_offset, 4) == struct.pack("<i", old_view.lwp[key])
        assert read_at(new, pd + tid_offset, 4) == struct.pack("<i", live.lwp[key])
    skip = [(live.value(k, "fs_base") + rseq_offset, 32) for k in live.regs] + \
           [(live.value(k, "fs_base") + tid_offset, 4) for k in live.regs]
    compared = 0
    for vaddr, data in old:
        if not data:
            continue
        got = read_at(new, vaddr, len(data))
        assert got is not None, f"segment at {vaddr:#x} missing from the revived process's core"
        for at, size in skip:
            if vaddr <= at < vaddr + len(data):
                o = at - vaddr
                data = data[:o] + got[o:o + size] + data[o + size:]
        assert got == data, f"segment at {vaddr:#x} differs"
        compared += len(data)
    assert compared > 1 << 20
    assert_same_threads_and_registers(old_view, gdb_view([str(gcored.exe), str(again)]), ctl,
                                      gcore=True)


def segments(core):
    """[(vaddr, bytes)] of a core's PT_LOAD segments (ELF64 little-endian)."""
    data = pathlib.Path(core).read_bytes()
    return [(l.vaddr, data[l.offset:l.offset + l.filesz]) for l in pt_loads(core)]


def read_at(segs, vaddr, size):
    for start, data in segs:
        if start <= vaddr and vaddr + size <= start + len(data):
            return data[vaddr - start:vaddr - start + size]
    return None


# --- pid namespace ------------------------------------------------------------------------------

def nspids(pid):
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        st = pathlib.Path(f"/proc/{pid}/task/{t}/status").read_text()
        out[int(t)] = int(re.search(r"^NSpid:.*\s(\d+)$", st, re.M)[1])
    return out


def test_pidns_gives_the_original_pid_and_tids(crashed):
    dead = crashed("thread")
    core_view = gdb_view([str(dead.exe), str(dead.core)])
    with mounted(dead.core) as mnt, revived(mnt, "pidns") as ctl:
        pid = int(ctl["pid"][0])
        ns = nspids(pid)
        assert ns[pid] == int(ctl["nspid"][0]) == int(corefs_pid(dead.core))
        assert sorted(ns.values()) == sorted(core_view.lwp.values())
        assert [int(t) for t in ctl["nstids"][0].split()] == [ns[int(t)] for t in
                                                              ctl["tids"][0].split()]
        live = gdb_view(["-p", str(pid)])
        assert_same_threads_and_registers(core_view, live, ctl, gcore=False)
        assert not any(line.startswith("tids:") for line in ctl.get("lost", []))


def corefs_pid(core):
    p = subprocess.run([str(COREFS), "--cat", "core.json", str(core)], capture_output=True,
                       text=True, check=True)
    return re.search(r'"pid":\s*(\d+)', p.stdout)[1]


def test_without_pidns_the_new_tids_are_said(crashed):
    dead = crashed("main")
    with mounted(dead.core) as mnt, revived(mnt) as ctl:
        lost = [line for line in ctl["lost"] if line.startswith("tids:")]
        assert len(lost) == 1 and "are now" in lost[0] and "glibc's cached tids are patched" in \
            lost[0]
        assert "nspid" not in ctl


def test_pidns_is_refused_without_privilege(progs):
    """As an unprivileged user (nobody) a new pid namespace is refused, cleanly, with the reason;
    plain revival still works.  /dev/fuse is root's only on this machine: corefs runs as nobody
    in a private mount namespace with a world-usable copy of the device (conftest.nobody_mount);
    commands run in it as nobody too."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="rv-nobody-"))
    os.chmod(d, 0o755)
    exe = pathlib.Path(shutil.copy(progs["crash"], d / "rv_crash"))
    core, _ = crash(exe, d, "main", str(d / "record"))
    os.chmod(core, 0o644)
    pid = None
    try:
        with nobody_mount(core) as (mnt, inside):
            p = inside("bash", "-c", f"echo revive pidns > {mnt}/control")
            assert p.returncode != 0 and "Operation not permitted" in p.stderr, p.stderr
            text = inside("cat", f"{mnt}/control").stdout
            assert text.startswith("state core\n"), text
            assert re.search(r"^error revive: pidns: .*CAP_SYS_ADMIN.*: Operation not permitted$",
                             text, re.M), text
            assert not running_exe(exe), "a half-made process was left"
            assert inside("bash", "-c", f"echo revive > {mnt}/control").returncode == 0
            text = inside("cat", f"{mnt}/control").stdout
            pid = int(re.search(r"^pid (\d+)$", text, re.M)[1])
            assert proc_state(pid) == "T" and os.readlink(f"/proc/{pid}/exe") == str(exe)
            assert os.stat(f"/proc/{pid}").st_uid == 65534
            assert inside("bash", "-c", f"echo kill > {mnt}/control").returncode == 0
            assert "state killed\n" in inside("cat", f"{mnt}/control").stdout
    finally:
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)
        if pid:
            end_process(pid)	# it came to this subreaper when the daemon went
        shutil.rmtree(d)


def running_exe(exe):
    """Pids of live processes whose executable is exe."""
    out = []
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and os.readlink(f"/proc/{p}/exe") == str(exe) and alive(int(p)):
                out.append(int(p))
        except OSError:
            pass
    return out


# --- it is nobody's -------------------------------------------------------------------------------

def test_unmount_does_not_kill_it(crashed):
    dead = crashed("main")
    with mounted(dead.core) as mnt:
        assert command(mnt, "revive") == 0
        pid = int(read_control(mnt)["pid"][0])
    try:
        time.sleep(0.2)
        assert alive(pid) and proc_state(pid) == "T"
        assert os.readlink(f"/proc/{pid}/exe") == str(dead.exe)
    finally:
        end_process(pid)


# --- refusals ---------------------------------------------------------------------------------------

def test_revive_twice_is_refused(crashed):
    dead = crashed("main")
    with mounted(dead.core) as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        assert command(mnt, "revive") == errno.EALREADY
        again = read_control(mnt)
        assert again["pid"] == [str(pid)] and again["state"] == ["stopped"]
        assert again["error"] == [f"revive: already revived as pid {pid} (kill it first)"]
        assert running_exe(dead.exe) == [pid]


def patched_copy(src, dst, edit):
    data = bytearray(pathlib.Path(src).read_bytes())
    edit(data)
    dst.write_bytes(data)
    return dst


def phdrs(data):
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    return [(phoff + i * phentsize, *struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize))
            for i in range(phnum)]


def no_prstatus(data):
    """Every NT_PRSTATUS note renamed to an unknown type: a core without threads."""
    for at, ptype, _, off, _, _, filesz, _, _ in phdrs(data):
        if ptype != 4:
            continue
        pos = off
        while pos < off + filesz:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            if ntype == 1 and data[pos + 12:pos + 16] == b"CORE":
                struct.pack_into("<I", data, pos + 8, 0x7777)
            pos += 12 + (namesz + 3 & ~3) + (descsz + 3 & ~3)


def beyond_user_space(data):
    """The last anonymous segment before the stack moved above 2^47."""
    loads = [p for p in phdrs(data) if p[1] == 1 and p[4] < 0x7ff000000000 and p[6]]
    struct.pack_into("<Q", data, loads[-1][0] + 16, 0x900000000000)


@pytest.mark.parametrize("case", ("no threads", "unmappable"))
def test_hostile_cores_are_refused(crashed, tmp_path, case):
    dead = crashed("main")
    core = patched_copy(dead.core, tmp_path / "core",
                        no_prstatus if case == "no threads" else beyond_user_space)
    messages = {
        "no threads": "revive: the core holds no thread (no NT_PRSTATUS), so no registers to "
                      "start from",
        "unmappable": "revive: anonymous memory at 0x900000000000-",
    }
    with mounted(core) as mnt:
        assert command(mnt, "revive") == errno.EINVAL
        ctl = read_control(mnt)
        assert ctl["state"] == ["core"] and ctl["error"][0].startswith(messages[case]), ctl
        if case == "unmappable":
            assert "outside this machine's user address space" in ctl["error"][0]
        assert not running_exe(dead.exe)


@pytest.mark.parametrize("rel,words", [
    ("elfutils/cores/backtrace.aarch64.core", "an aarch64 process (elf64-little); only x86_64 and "
     "i386 processes can be revived on this x86_64 machine"),
    ("elfutils/cores/backtrace.x32.core", "an x32 process (elf32-little); "),
])
def test_other_architectures_are_refused(corpus_dir, rel, words):
    """i386 cores revive (tests/test_revive32.py); x32 ones do not, saying why."""
    core, = corpus_files(corpus_dir, rel)
    with mounted(core) as mnt:
        assert command(mnt, "revive") == errno.EINVAL
        ctl = read_control(mnt)
        assert ctl["state"] == ["core"]
        error, = ctl["error"]
        assert error.startswith(f"revive: this core is of {words}"), error


def test_other_os_is_refused(corpus_dir):
    core, = corpus_files(corpus_dir, "lldb/netbsd-core/1lwp_SIGSEGV.amd64.core")
    with mounted(core) as mnt:
        assert command(mnt, "revive") == errno.EINVAL
        assert read_control(mnt)["error"] == ["revive: this is a NetBSD core; only Linux cores "
                                              "can be revived"]


def test_a_foreign_vdso_is_mapped_over_zero_vvar(crashed, tmp_path):
    """A vDSO that is not this kernel's (one byte of the core's changed) cannot be swapped for
    the kernel's: its own text is mapped, over zeroed vvar pages."""
    dead = crashed("main")
    vdso = next(int(line.split("-")[0], 16) for line in
                subprocess.run([str(COREFS), "--cat", "maps", str(dead.core)], capture_output=True,
                               text=True, check=True).stdout.splitlines() if "[vdso]" in line)

    def patch(data):
        for at, ptype, _, off, vaddr, _, filesz, _, _ in phdrs(data):
            if ptype == 1 and vaddr == vdso:
                data[off + filesz - 1] ^= 0xff
    core = patched_copy(dead.core, tmp_path / "core", patch)
    want = read_at(segments(core), vdso, 8192)
    with mounted(core) as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        assert any("vDSO is not this kernel's" in line for line in ctl["lost"])
        maps = pathlib.Path(f"/proc/{pid}/maps").read_text()
        assert "[vdso]" not in maps and "[vvar]" not in maps
        with open(f"/proc/{pid}/mem", "rb") as mem:
            mem.seek(vdso)
            assert mem.read(8192) == want
        now = time.time()
        out = subprocess.run([*GDB, *ATTACH, "-ex", "set scheduler-locking on",
                              "-ex", "set $ts = (long *)malloc(16)",
                              "-ex", "print (int)clock_gettime(0, $ts)", "-ex", "print $ts[0]",
                              "-ex", "print (long)time(0)", "-p", str(pid)],
                             capture_output=True, text=True, timeout=120).stdout
        values = [int(v) for v in re.findall(r"^\$\d+ = (-?\d+)$", out, re.M)]
        assert values[0] == 0 and abs(values[1] - now) < 60, out
        assert values[2] == 0, "time() reads the zeroed vvar"


def test_control_commands(crashed):
    dead = crashed("main")
    with mounted(dead.core) as mnt:
        assert stat.S_IMODE(os.stat(mnt / "control").st_mode) == 0o600
        assert (mnt / "control").read_text() == "state core\n"
        assert command(mnt, "resume") == errno.ESRCH
        assert read_control(mnt)["error"] == ["resume: nothing revived yet (echo revive > "
                                              "control)"]
        assert command(mnt, "frobnicate") == errno.EINVAL
        assert read_control(mnt)["error"][0].startswith("unknown command 'frobnicate'")
        assert command(mnt, "revive stdin") == errno.EINVAL
        assert command(mnt, "revive stdout=/nonexistent/dir/out") == errno.ENOENT
        ctl = read_control(mnt)
        assert ctl["state"] == ["core"]
        assert ctl["error"] == ["revive: stdout /nonexistent/dir/out: No such file or directory"]
        assert not running_exe(dead.exe)
