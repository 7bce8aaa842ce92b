"""Shared helpers for corefs's integration tests.

Cores are made at test time by real programs (tests/progs/*.c) that crash or are gcore'd; the
mount is the real ./corefs binary.  Everything a test needs to mount, read and unmount goes
through the helpers here, so every test checks the same things: the mount comes up, the daemon
writes no error, and the unmount leaves nothing behind.
"""
import collections
import contextlib
import ctypes
import errno
import json
import os
import pathlib
import re
import resource
import select
import shutil
import struct
import subprocess
import tempfile
import time

import pytest

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
COREFS = PROJECT_ROOT / "corefs"
# The daemon built with sanitizers (make build/asan/corefs build/tsan/corefs; make check does).
ASAN_COREFS = PROJECT_ROOT / "build" / "asan" / "corefs"
TSAN_COREFS = PROJECT_ROOT / "build" / "tsan" / "corefs"
TSAN_SUPP = PROJECT_ROOT / "tests" / "tsan.supp"
PROGS = PROJECT_ROOT / "tests" / "progs"
CORPUS = PROJECT_ROOT.parent / "shared" / "corpus"

# No test asks a debuginfod server it did not start: corefs, eu-stack and gdb read the servers
# from DEBUGINFOD_URLS (Debian's /etc/profile.d sets it for login shells), so it is dropped for
# every test; tests/test_debuginfod.py sets it for its own runs.
os.environ.pop("DEBUGINFOD_URLS", None)


# --- the shared corpus (../shared/corpus): present on developer machines only -------------------

def corpus_files(tmp_dir, *relpaths):
    """Decompress corpus files (paths without .xz) into tmp_dir; skip when the corpus is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not present at {CORPUS}")
    out = []
    for rel in relpaths:
        src = CORPUS / (rel + ".xz")
        dst = pathlib.Path(tmp_dir) / pathlib.Path(rel).name
        if not dst.exists():
            with open(dst, "wb") as f:
                subprocess.run(["xz", "-dc", str(src)], stdout=f, check=True)
        out.append(dst)
    return out


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
    """One temporary directory per test session, so each corpus file is decompressed once."""
    return tmp_path_factory.mktemp("corpus")


# --- what a core file says of itself, read without corefs ----------------------------------------

Load = collections.namedtuple("Load", "offset vaddr filesz memsz flags")


def pt_loads(core):
    """Every PT_LOAD of an ELF64 little-endian core, read with struct from its program headers
    (PN_XNUM: the count is section header 0's sh_info): what the core file itself says it holds,
    independently of corefs."""
    with open(core, "rb") as f:
        ehdr = f.read(64)
        assert ehdr[:4] == b"\x7fELF" and ehdr[4] == 2 and ehdr[5] == 1, f"{core}: not ELF64 LSB"
        phoff, shoff = struct.unpack_from("<QQ", ehdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
        if phnum == 0xFFFF:
            f.seek(shoff + 44)
            phnum, = struct.unpack("<I", f.read(4))
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        p_type, flags, off, vaddr, _, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", table,
                                                                           i * phentsize)
        if p_type == 1:
            out.append(Load(off, vaddr, filesz, memsz, flags))
    return out


# --- running corefs ------------------------------------------------------------------------------

def corefs_cat(core, path, *opts, check=True):
    """`corefs --cat PATH CORE`: one file of the tree, rendered without a mount."""
    p = subprocess.run([str(COREFS), *opts, "--cat", path, str(core)], capture_output=True)
    if check and p.returncode != 0:
        raise AssertionError(f"corefs --cat {path} {core} failed: {p.stderr.decode()}")
    return p


def wait_for_mount(mnt, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.ismount(mnt):
            return
        if proc.poll() is not None:
            raise AssertionError(f"corefs exited with {proc.returncode} before mounting: "
                                 f"{proc.stderr.read().decode()}")
        time.sleep(0.01)
    raise AssertionError(f"{mnt} did not become a mount point")


def daemon_env(corefs):
    """The environment to run a corefs binary in.  For a sanitizer build: the first report ends
    the daemon with status 66, written to its stderr, which mounted() requires to be empty."""
    env = dict(os.environ)
    corefs = pathlib.Path(corefs)
    if corefs == ASAN_COREFS:
        env["ASAN_OPTIONS"] = "halt_on_error=1:exitcode=66:abort_on_error=0:log_path=stderr"
        env["UBSAN_OPTIONS"] = "halt_on_error=1:exitcode=66:print_stacktrace=1:log_path=stderr"
    elif corefs == TSAN_COREFS:
        env["TSAN_OPTIONS"] = (f"halt_on_error=1:exitcode=66:second_deadlock_stack=1:"
                               f"log_path=stderr:suppressions={TSAN_SUPP}")
    return env


@contextlib.contextmanager
def mounted(core, *opts, corefs=COREFS):
    """Mount core in the foreground on a fresh directory; yield the mount point as a Path.
    corefs is the daemon binary: ./corefs, or a sanitizer build (ASAN_COREFS, TSAN_COREFS).

    On exit: unmount with fusermount3 -u, require a clean exit of the daemon with nothing on its
    stderr (unless -d was given), and that the mount point is no longer mounted."""
    mnt = pathlib.Path(tempfile.mkdtemp(prefix="corefs-mnt-"))
    proc = subprocess.Popen([str(corefs), "-f", *opts, str(core), str(mnt)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=daemon_env(corefs))
    failure = None
    try:
        wait_for_mount(mnt, proc)
        yield mnt
    except BaseException as e:
        failure = e
        raise
    finally:
        if failure is not None and proc.poll() is None and _state(proc.pid) == "Z":
            # The daemon is dying but cannot finish: a thread of it waits in the kernel on a
            # request the dead ones will never answer (notify_inval_entry waits for the
            # directory a lookup holds).  Its /dev/fuse stays open, so nothing unmounts it.
            force_unmount(mnt)
        if os.path.ismount(mnt):
            u = subprocess.run(["fusermount3", "-u", str(mnt)], check=failure is None)
            if u.returncode != 0:
                force_unmount(mnt)  # a failed test may have left files open there
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError("corefs did not exit after unmount")
        if failure is not None:
            # A daemon that died leaves a mount that answers ENOTCONN (not a mount point to
            # ismount) until auto_unmount's fusermount3 takes it away.
            wait_until(lambda: not mount_listed(mnt), f"{mnt} unmounted after corefs ended")
        assert not os.path.ismount(mnt), f"{mnt} still mounted"
        mnt.rmdir()
        if failure is not None and (proc.returncode != 0 or (err and "-d" not in opts)):
            raise AssertionError(f"corefs exited {proc.returncode}: {err.decode()}") from failure
    assert proc.returncode == 0, f"corefs exited {proc.returncode}: {err.decode()}"
    if "-d" not in opts:
        assert err == b"", f"corefs wrote to stderr: {err.decode()}"


def _state(pid):
    """The state letter of a process's main thread (Z: it has exited), None when gone."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2]


def force_unmount(mnt):
    """umount2(MNT_FORCE): aborts a FUSE mount's connection, so every request waiting on the
    daemon fails with ENOTCONN, and unmounts it unless files are open there.  Touches nothing in
    the mount (a stat could wait on a daemon that answers no more)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(os.fsencode(str(mnt)), 1) != 0 and ctypes.get_errno() != errno.EBUSY:
        raise OSError(ctypes.get_errno(), f"umount2 {mnt}: {os.strerror(ctypes.get_errno())}")


def mount_listed(mnt):
    """Whether mnt is in the mount table, answering or not (a dead FUSE daemon's mount is)."""
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(mnt) for line in f)


def read_mem(mnt, addr, size):
    """Bytes of the mount's mem at addr (the offset is the address); OSError as the kernel gives."""
    fd = os.open(pathlib.Path(mnt) / "mem", os.O_RDONLY)
    try:
        return os.pread(fd, size, addr)
    finally:
        os.close(fd)


def one_line_error(p, core, message_re):
    """A refusal: non-zero exit and exactly one stderr line `corefs: CORE: MESSAGE`, MESSAGE
    matching message_re in full.  Returns the line."""
    err = p.stderr.decode(errors="replace")
    assert p.returncode > 0, f"exit status {p.returncode}, stderr: {err!r}"
    lines = err.splitlines(keepends=True)
    assert len(lines) == 1 and lines[0].endswith("\n"), f"expected one line, got {err!r}"
    prefix = f"corefs: {core}: "
    assert lines[0].startswith(prefix), f"{lines[0]!r} does not start with {prefix!r}"
    msg = lines[0][len(prefix):-1]
    assert re.fullmatch(message_re, msg), f"message {msg!r} does not match {message_re!r}"
    return lines[0]


def wait_until(cond, what, deadline=10.0):
    """Wait for something asynchronous (the kernel's caches, a directory watcher) with a
    deadline, instead of assuming an order."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"not within {deadline}s: {what}")


# --- making cores from real programs -------------------------------------------------------------

def build_prog(name, outdir, *cflags, ldflags=()):
    """Compile tests/progs/NAME.c into outdir; returns the executable's path."""
    exe = pathlib.Path(outdir) / name
    cmd = ["gcc", "-g", "-O0", "-Wall", *cflags, "-o", str(exe), str(PROGS / f"{name}.c"),
           "-pthread", *ldflags]
    subprocess.run(cmd, check=True)
    return exe


def gcore_running(exe, cwd, *args, timeout=60):
    """Start exe in cwd, wait for its "ready" line on stdout (a pipe, no sleeping), gcore it,
    SIGKILL it; returns the core gdb wrote.  Root passes Yama's ptrace_scope 1; a program run
    by a non-root user calls PR_SET_PTRACER_ANY (witness.c does) to be attached to."""
    cwd = pathlib.Path(cwd)
    proc = subprocess.Popen([str(exe), *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else b""
        assert line == b"ready\n", \
            f"{exe} did not get ready (rc {proc.poll()}): {proc.stderr.read1().decode()}"
        g = subprocess.run(["gcore", "-o", str(cwd / "gcore"), str(proc.pid)],
                           capture_output=True, timeout=timeout)
        scope = pathlib.Path("/proc/sys/kernel/yama/ptrace_scope")
        assert g.returncode == 0, (
            f"gcore failed (ptrace_scope {scope.read_text().strip() if scope.exists() else 'n/a'}):"
            f" {g.stdout.decode()} {g.stderr.decode()}")
        core = cwd / f"gcore.{proc.pid}"
        assert core.exists(), f"gcore wrote no {core}: {g.stdout.decode()}"
        return core
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def pid_of(core):
    """The pid a core names, as corefs reads it."""
    return json.loads(corefs_cat(core, "core.json").stdout)["pid"]


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@contextlib.contextmanager
def nobody_mount(core, *opts):
    """corefs run as nobody on core, in a private mount namespace where a world-usable copy of
    /dev/fuse is bound over the root-only one (nothing outside it changes).  Yields (mnt,
    inside): inside(*cmd) runs cmd as nobody in that namespace."""
    fuse = os.stat("/dev/fuse").st_rdev
    d = pathlib.Path(tempfile.mkdtemp(prefix="corefs-nobody-"))
    os.chmod(d, 0o755)
    mnt, dev = d / "mnt", d / "dev"
    mnt.mkdir()
    dev.mkdir()
    os.chown(mnt, 65534, 65534)
    script = (f"set -e; mount -t tmpfs corefs-dev {dev}; "
              f"mknod {dev}/fuse c {os.major(fuse)} {os.minor(fuse)}; chmod 666 {dev}/fuse; "
              f"mount --bind {dev}/fuse /dev/fuse; "
              f"exec {' '.join(NOBODY)} {COREFS} -f {' '.join(opts)} {core} {mnt}")
    daemon = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               script], stderr=subprocess.PIPE)

    def inside(*cmd):
        return subprocess.run(["nsenter", "-t", str(daemon.pid), "-m", *NOBODY, *cmd],
                              capture_output=True, text=True)
    try:
        deadline = time.monotonic() + 10
        while inside("test", "-e", f"{mnt}/control").returncode and time.monotonic() < deadline:
            assert daemon.poll() is None, daemon.stderr.read()
            time.sleep(0.05)
        yield mnt, inside
    finally:
        inside("fusermount3", "-u", str(mnt))
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        shutil.rmtree(d)
    assert daemon.returncode == 0, daemon.stderr.read()


def _core_pattern():
    return pathlib.Path("/proc/sys/kernel/core_pattern").read_text().strip()


@pytest.fixture(scope="session", autouse=True)
def kernel_cores_in_cwd():
    """Kernel cores land in the crashing program's cwd as core or core.PID.  A machine that pipes
    cores elsewhere (systemd-coredump, apport) has its pattern set to "core" for the session and
    restored after it; changing it needs root."""
    old = _core_pattern()
    changed = False
    if old.startswith("|") or "/" in old:
        try:
            pathlib.Path("/proc/sys/kernel/core_pattern").write_text("core")
            changed = True
        except OSError:
            pass
    yield
    if changed:
        pathlib.Path("/proc/sys/kernel/core_pattern").write_text(old)


def _allow_core():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def crash(exe, cwd, *args, env=None, timeout=60, expect_signal=None):
    """Run exe in cwd until it dumps core; returns (core path, completed process)."""
    cwd = pathlib.Path(cwd)
    p = subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True,
                       preexec_fn=_allow_core, timeout=timeout)
    assert p.returncode < 0, f"{exe} did not die of a signal (rc {p.returncode}): {p.stderr.decode()}"
    if expect_signal is not None:
        assert -p.returncode == expect_signal
    for name in (f"core.{p.pid}" if hasattr(p, "pid") else None, "core"):
        if name and (cwd / name).exists():
            return cwd / name, p
    cores = sorted(cwd.glob("core*"), key=lambda f: f.stat().st_mtime)
    assert cores, f"no core written in {cwd} (core_pattern {_core_pattern()!r})"
    return cores[-1], p
