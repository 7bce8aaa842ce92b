"""Reliability: limits, signals, malformed commands and other users (issue 9).

Each test drives the real daemon the way a user or a hostile reader would: a write with a NUL
byte in it, a SIGTERM/SIGINT/SIGHUP to a foreground daemon, a revival under a small limit on open
files, a revival whose cwd= the daemon's user may not enter, and reads by another user of an
allow_other mount.  Oracles are the kernel's own answers (errno, exit status, /proc/PID/limits
of the revived process) and what the core file itself allows that user.
"""
import contextlib
import errno
import os
import pathlib
import re
import resource
import shutil
import signal
import stat
import subprocess
import tempfile

import pytest

from conftest import COREFS, NOBODY, build_prog, crash, mounted, nobody_mount, wait_for_mount
from test_revive import command, end_process, read_control, revived, running_exe

@pytest.fixture(scope="module")
def dead(tmp_path_factory):
    """A kernel core of rv_crash (four threads, three mapped files); its directory is
    world-searchable so another user can reach it."""
    d = tmp_path_factory.mktemp("rel")
    os.chmod(d, 0o755)
    exe = build_prog("rv_crash", d)
    core, _ = crash(exe, d, "main", str(d / "record"))
    return core


# --- a NUL byte in a command ----------------------------------------------------------------------

def write_errno(mnt, data):
    """Write data to control in one write(2); the errno it fails with, 0 when it succeeds."""
    fd = os.open(mnt / "control", os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data)
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def test_a_nul_byte_in_a_control_write_is_refused(dead):
    with mounted(dead) as mnt:
        assert write_errno(mnt, b"revive\0stdout=/tmp/should-not-exist\n") == errno.EINVAL
        ctl = read_control(mnt)
        assert ctl["state"] == ["core"], ctl
        assert ctl["error"] == ["a command holds a NUL byte (at offset 6): nothing was done"]
        assert not running_exe(dead.parent / "rv_crash")
        # A NUL after a good command refuses the whole write: nothing of it runs.
        assert write_errno(mnt, b"revive\nkill\0\n") == errno.EINVAL
        assert read_control(mnt)["state"] == ["core"]
        assert not running_exe(dead.parent / "rv_crash")


# --- the end of a foreground daemon ---------------------------------------------------------------

@pytest.mark.parametrize("sig", (signal.SIGTERM, signal.SIGINT, signal.SIGHUP))
def test_a_signal_unmounts_cleanly_with_exit_0(dead, sig):
    mnt = pathlib.Path(tempfile.mkdtemp(prefix="corefs-mnt-"))
    # SIGINT and SIGHUP must reach the daemon: not ignored as for a background job.
    proc = subprocess.Popen([str(COREFS), "-f", str(dead), str(mnt)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, restore_signals=True,
                            preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL)
                                                for s in (signal.SIGINT, signal.SIGHUP)])
    try:
        wait_for_mount(mnt, proc)
        assert (mnt / "comm").read_text() == "rv_crash\n"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", str(mnt)])
    assert proc.returncode == 0, f"exit {proc.returncode} after {sig.name}: {err.decode()}"
    assert err == b""
    assert not os.path.ismount(mnt)
    mnt.rmdir()


# --- limits on open files -------------------------------------------------------------------------

@contextlib.contextmanager
def mounted_with_nofile(core, limit):
    """A foreground mount whose daemon has `limit` as both soft and hard limit on open files."""
    mnt = pathlib.Path(tempfile.mkdtemp(prefix="corefs-mnt-"))
    proc = subprocess.Popen([str(COREFS), "-f", str(core), str(mnt)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                                  (limit, limit)))
    try:
        wait_for_mount(mnt, proc)
        yield mnt
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        out, err = proc.communicate(timeout=10)
        mnt.rmdir()
    assert proc.returncode == 0 and err == b"", err.decode()


def nofile(pid):
    """(soft, hard) limit on open files of a live process, from the kernel."""
    text = pathlib.Path(f"/proc/{pid}/limits").read_text()
    soft, hard = re.search(r"^Max open files\s+(\S+)\s+(\S+)", text, re.M).groups()
    return int(soft), int(hard)


def test_revive_under_the_usual_limit_of_1024(dead):
    with mounted_with_nofile(dead, 1024) as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        assert ctl["state"] == ["stopped"]
        assert len(ctl["tids"][0].split()) == 4
        assert nofile(pid) == (1024, 1024)


def test_the_revived_process_gets_the_callers_soft_limit(dead):
    """The daemon raises its own soft limit to the hard one; the process gets the caller's."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    soft = min(512, hard)
    mnt = pathlib.Path(tempfile.mkdtemp(prefix="corefs-mnt-"))
    proc = subprocess.Popen([str(COREFS), "-f", str(dead), str(mnt)], stderr=subprocess.PIPE,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                                  (soft, hard)))
    try:
        wait_for_mount(mnt, proc)
        assert nofile(proc.pid) == (hard, hard)
        with revived(mnt) as ctl:
            assert nofile(int(ctl["pid"][0])) == (soft, hard)
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        proc.communicate(timeout=10)
        mnt.rmdir()
    assert proc.returncode == 0


def test_the_smallest_limit_revival_works_with(dead):
    """Revival needs about 2 x (4 + views of the core + mapped files) fds beside the daemon's
    own (README): for this core (four threads, three mapped files) 32 is enough.  Below the
    smallest limit that works, revival fails with one line naming what ran out, and leaves no
    process behind."""
    smallest = None
    for limit in range(32, 8, -1):
        with mounted_with_nofile(dead, limit) as mnt:
            err = command(mnt, "revive")
            ctl = read_control(mnt)
            if err:
                assert err == errno.EMFILE, ctl
                assert ctl["state"] == ["core"]
                assert re.fullmatch(r"revive: .*: Too many open files", ctl["error"][0]), ctl
                assert not running_exe(dead.parent / "rv_crash")
                break
            smallest = limit
            pid = int(ctl["pid"][0])
            assert ctl["state"] == ["stopped"] and len(ctl["tids"][0].split()) == 4
            end_process(pid, mnt)
    assert smallest is not None and smallest <= 32, "revival needs more than 32 open files"
    assert smallest > 9, "no limit was small enough to fail"
    print(f"smallest limit on open files that revives this core: {smallest}")


# --- another user ---------------------------------------------------------------------------------

def test_a_cwd_the_user_may_not_enter_is_eacces(dead):
    """The vessel's chdir fails as nobody: the error says so (it used to read 'did not stop at
    its start'), and nothing is left running."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="corefs-cwd-"))
    try:
        os.chmod(d, 0o755)
        core = d / "core"
        shutil.copy(dead, core)
        os.chmod(core, 0o644)
        private = d / "private"
        private.mkdir(mode=0o700)
        with nobody_mount(core) as (mnt, inside):
            p = inside("bash", "-c", f"echo revive cwd={private} > {mnt}/control")
            assert p.returncode != 0 and "Permission denied" in p.stderr, p.stderr
            text = inside("cat", f"{mnt}/control").stdout
            assert text == f"state core\nerror revive: cwd {private}: Permission denied\n", text
            assert not running_exe(dead.parent / "rv_crash")
    finally:
        shutil.rmtree(d)


SENSITIVE = ("auxv", "environ", "mem", "core.json", "task/{tid}/regs", "task/{tid}/stack",
             "task/{tid}/syscall", "syscall", "personality")
PUBLIC = ("maps", "status", "stat", "cmdline", "comm", "task/{tid}/status", "smaps", "modules")


def test_files_repeating_ptrace_level_facts_are_0400(dead):
    with mounted(dead) as mnt:
        tid = sorted(os.listdir(mnt / "task"))[0]
        for path in SENSITIVE:
            st = os.stat(mnt / path.format(tid=tid))
            assert stat.S_IMODE(st.st_mode) & 0o077 == 0, (path, oct(st.st_mode))


@pytest.mark.parametrize("core_mode", (0o644, 0o640, 0o600))
def test_others_read_no_more_than_the_core_file_lets_them(dead, tmp_path, core_mode):
    """An allow_other mount by root: nobody reads through the mount only what the core file
    lets nobody read, and never the files that repeat auxv, registers, environ or memory."""
    d = tmp_path / "d"
    d.mkdir(mode=0o755)
    os.chmod(tmp_path, 0o755)
    core = d / "core"
    shutil.copy(dead, core)
    os.chmod(core, core_mode)
    with mounted(core, "-o", "allow_other") as mnt:
        tid = sorted(os.listdir(mnt / "task"))[0]

        def nobody_reads(path):
            p = subprocess.run([*NOBODY, "cat", str(mnt / path.format(tid=tid))],
                               capture_output=True)
            assert p.returncode == 0 or b"Permission denied" in p.stderr, p.stderr
            return p.returncode == 0
        for path in SENSITIVE:
            assert not nobody_reads(path), path
        for path in PUBLIC:
            assert nobody_reads(path) == bool(core_mode & stat.S_IROTH), path
        st = os.stat(mnt / "maps")
        assert st.st_gid == os.stat(core).st_gid
        # The owner of the mount (root here) reads everything, as from the core file.
        for path in SENSITIVE + PUBLIC:
            if path != "mem":
                (mnt / path.format(tid=tid)).read_bytes()
