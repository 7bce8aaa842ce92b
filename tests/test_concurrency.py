"""Many threads at once against one mount: every answer is still the file, and the daemon lives.

Each test runs against the plain ./corefs and the daemon built with ASan+UBSan and with
ThreadSanitizer (build/asan/corefs, build/tsan/corefs; `make check` builds them), whose first
report ends the daemon with status 66 and the report on its stderr: mounted() requires a clean
exit and an empty stderr, so a report fails the test that provoked it.

The cores are kernel cores of tests/progs/bt_threads.c (several threads, parked at known depths),
made at test time.  Oracles, none of them read through the mount under test: a read of the same
file taken before the threads start (the snapshot files, whose content only changes as cores
come and go), the core file's own bytes at its PT_LOAD offsets (mem), and `corefs --cat` (every
rendered file).  A thread that blocks past a deadline is a hang: the FUSE connection is aborted
so the test fails instead of waiting forever.
"""
import errno
import json
import os
import random
import re
import threading
import time

import pytest

from conftest import (ASAN_COREFS, COREFS, PROGS, TSAN_COREFS, build_prog, corefs_cat, crash,
                      force_unmount, mounted, pt_loads)

DAEMONS = {"plain": COREFS, "asan": ASAN_COREFS, "tsan": TSAN_COREFS}
NWORKERS = 3            # bt_threads' worker threads: 4 threads in each core
DEADLINE = 60.0         # seconds a group of threads may take before it counts as a hang

# The /proc root's files: the same text on every read while the cores stay, but for the time
# since btime (the idle column of stat's cpu lines, all of uptime).
ROOT_FILES = ("stat", "meminfo", "version", "uptime", "loadavg", "cpuinfo")
# The files of a core rendered once and cached, read by the concurrent-render tests.
RENDERED = ("maps", "smaps", "smaps_rollup", "core.json", "modules", "status", "stat", "statm",
            "cmdline", "environ", "auxv", "comm", "syscall", "limits")
PER_THREAD = ("stack", "regs", "stat", "status", "syscall")


def pid_of(core):
    """The pid a core names, as corefs reads it."""
    return json.loads(corefs_cat(core, "core.json").stdout)["pid"]


@pytest.fixture(params=list(DAEMONS), ids=list(DAEMONS))
def daemon(request):
    """The corefs binary to mount with; a missing build fails (run `make check` or make
    build/asan/corefs build/tsan/corefs), so an absent sanitizer daemon is never a pass."""
    path = DAEMONS[request.param]
    assert path.is_file(), f"{path} is not built"
    return path


@pytest.fixture(scope="module")
def cores(tmp_path_factory):
    """Three kernel cores of bt_threads, each its own run (its own pid)."""
    base = tmp_path_factory.mktemp("concurrency")
    exe = build_prog("bt_threads", base, "-fno-optimize-sibling-calls",
                     ldflags=(str(PROGS / "bt_lib.c"),))
    out = []
    for i in range(3):
        d = base / f"run{i}"
        d.mkdir()
        core, _ = crash(exe, d, "crash", str(NWORKERS))
        out.append(core)
    assert len({pid_of(c) for c in out}) == len(out)
    return out


# --- threads, and what they found ----------------------------------------------------------------

def run_threads(mnt, workers):
    """Run each callable of workers in its own thread, started together.  An exception in one
    is re-raised here; a group still running after DEADLINE is a hang (the connection is aborted
    so the threads return, then the test fails)."""
    errors = []
    start = threading.Barrier(len(workers))

    def run(i, fn):
        try:
            start.wait()
            fn()
        except BaseException as e:
            errors.append((i, e))

    threads = [threading.Thread(target=run, args=(i, fn), daemon=True)
               for i, fn in enumerate(workers)]
    for t in threads:
        t.start()
    end = time.monotonic() + DEADLINE
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    if any(t.is_alive() for t in threads):
        force_unmount(mnt)
        for t in threads:
            t.join(10)
        raise AssertionError(f"threads still blocked on the mount after {DEADLINE}s: a hang")
    if errors:
        i, e = errors[0]
        raise AssertionError(f"thread {i} of {len(workers)} failed ({len(errors)} did): "
                             f"{type(e).__name__}: {e}") from e


def assert_alive(mnt):
    """The mount still answers (a dead daemon's mount gives ENOTCONN)."""
    names = os.listdir(mnt)
    assert "version" in names or "maps" in names, names


def close_all(fds):
    """Close every fd, even when the mount is gone (the FLUSH fails, the fd is closed anyway)."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError as e:
            if e.errno not in (errno.ENOTCONN, errno.ECONNABORTED):
                raise


class Mismatches:
    """Wrong answers seen by many threads: counted, the first few kept for the message."""

    def __init__(self):
        self.lock = threading.Lock()
        self.count = 0
        self.seen = []

    def add(self, what):
        with self.lock:
            self.count += 1
            if len(self.seen) < 5:
                self.seen.append(what)

    def check(self, total):
        assert self.count == 0, (f"{self.count} of {total} reads were wrong; the first: " +
                                 "; ".join(self.seen))


def short(data, n=160):
    return repr(data[:n]) + (f"... ({len(data)} bytes)" if len(data) > n else "")


# --- a. threads sharing one fd of each snapshot file ---------------------------------------------

SNAPSHOT_THREADS = 4
SNAPSHOT_ROUNDS = 600   # per thread: 2400 reads of each file

IDLE = re.compile(rb"^(cpu\d* +\d+ \d+ \d+ )\d+ ", re.M)
UPTIME = re.compile(rb"\d+\.\d\d \d+\.\d\d\n")


def snapshot_shape(name, data):
    """What of a snapshot must be equal on every read: all of it but the time since btime."""
    if name == "stat":
        return IDLE.sub(rb"\1IDLE ", data)
    if name == "uptime":
        return b"UPTIME\n" if UPTIME.fullmatch(data) else data
    return data


def test_threads_share_one_fd_of_each_snapshot_file(daemon, cores, tmp_path):
    """The /proc root's files and a core's control are direct_io snapshots taken by the read at
    offset 0: threads pread()ing one open fd of each at offset 0 all get the whole file."""
    d = tmp_path / "store"
    d.mkdir()
    for i, core in enumerate(cores[:2]):
        os.link(core, d / f"core.{i}")
    pid = pid_of(cores[0])
    with mounted(d, corefs=daemon) as mnt:
        paths = {name: mnt / name for name in ROOT_FILES}
        paths["control"] = mnt / str(pid) / "control"
        fds = {name: os.open(p, os.O_RDONLY) for name, p in paths.items()}
        try:
            want = {}
            for name, fd in fds.items():
                first = os.pread(fd, 65536, 0)
                if name == "uptime":
                    assert UPTIME.fullmatch(first), short(first)
                want[name] = snapshot_shape(name, first)
            assert want["control"] == b"state core\n"
            bad = Mismatches()

            def reader(name, fd):
                def run():
                    for r in range(SNAPSHOT_ROUNDS):
                        got = os.pread(fd, 65536, 0)
                        if snapshot_shape(name, got) != want[name]:
                            bad.add(f"{name} round {r}: {short(got)}, expected "
                                    f"{short(want[name])}")
                return run

            run_threads(mnt, [reader(name, fd) for name, fd in fds.items()
                              for _ in range(SNAPSHOT_THREADS)])
            bad.check(len(fds) * SNAPSHOT_THREADS * SNAPSHOT_ROUNDS)
            assert_alive(mnt)
            for name, fd in fds.items():
                assert snapshot_shape(name, os.pread(fd, 65536, 0)) == want[name]
        finally:
            close_all(fds.values())


# --- b. random reads of mem from many threads ----------------------------------------------------

MEM_THREADS = 8
MEM_ROUNDS = 2000       # per thread

def test_threads_read_mem_at_random(daemon, cores):
    """Threads share one fd of mem and pread() random ranges inside the core's segments: every
    read is the core file's bytes at that segment's offset."""
    core = cores[0]
    # The segments with bytes in the file, below 2^63 (mem's offsets are signed).
    loads = [(l.offset, l.vaddr, l.filesz) for l in pt_loads(core)
             if l.filesz and l.vaddr < 1 << 63]
    data = core.read_bytes()
    weights = [filesz for _, _, filesz in loads]
    with mounted(core, corefs=daemon) as mnt:
        fd = os.open(mnt / "mem", os.O_RDONLY)
        try:
            bad = Mismatches()

            def reader(seed):
                def run():
                    rnd = random.Random(seed)
                    for _ in range(MEM_ROUNDS):
                        off, vaddr, filesz = rnd.choices(loads, weights)[0]
                        at = rnd.randrange(filesz)
                        n = rnd.randint(1, min(filesz - at, 65536))
                        got = os.pread(fd, n, vaddr + at)
                        if got != data[off + at:off + at + n]:
                            bad.add(f"{n} bytes at {vaddr + at:#x}: got {len(got)} bytes "
                                    f"{short(got, 32)}")
                return run

            run_threads(mnt, [reader(i) for i in range(MEM_THREADS)])
            bad.check(MEM_THREADS * MEM_ROUNDS)
            assert_alive(mnt)
        finally:
            close_all([fd])


# --- c. rendered files opened and read by many threads at once -----------------------------------

RENDER_THREADS = 6
RENDER_COPIES = 4       # copies of the core, each rendered anew by the first concurrent reads
RENDER_ROUNDS = 3       # reads of every file per thread, the kernel's page cache dropped between

def tree_files(core):
    """The rendered files of a core's tree (paths relative to its directory)."""
    tids = sorted(t["tid"] for t in json.loads(corefs_cat(core, "core.json").stdout)["threads"])
    return list(RENDERED) + [f"task/{tid}/{f}" for tid in tids for f in PER_THREAD]


def read_whole(path):
    """Open path, read it to the end, drop the kernel's cached pages of it, close it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        parts = []
        while chunk := os.read(fd, 1 << 20):
            parts.append(chunk)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return b"".join(parts)
    finally:
        os.close(fd)


def test_threads_render_and_read_the_same_files(daemon, cores, tmp_path):
    """Copies of one core in a directory, each under by-name/: threads open every rendered file
    of every copy fresh, together, so the first renders race; then again with the kernel's page
    cache dropped, so the reads reach the daemon.  Each read is what `corefs --cat` prints."""
    core = cores[0]
    d = tmp_path / "store"
    d.mkdir()
    names = [f"copy{i}" for i in range(RENDER_COPIES)]
    for n in names:
        os.link(core, d / n)
    files = tree_files(core)
    want = {}
    for n in names:
        for f in files:
            if f == "core.json" or n == names[0]:
                want[n, f] = corefs_cat(d / n, f).stdout
            else:
                want[n, f] = want[names[0], f]
    with mounted(d, corefs=daemon) as mnt:
        bad = Mismatches()

        def reader(seed):
            def run():
                rnd = random.Random(seed)
                for _ in range(RENDER_ROUNDS):
                    order = [(n, f) for n in names for f in files]
                    rnd.shuffle(order)
                    for n, f in order:
                        got = read_whole(mnt / "by-name" / n / f)
                        if got != want[n, f]:
                            bad.add(f"by-name/{n}/{f}: {short(got)}")
            return run

        run_threads(mnt, [reader(i) for i in range(RENDER_THREADS)])
        bad.check(RENDER_THREADS * RENDER_ROUNDS * len(names) * len(files))
        assert_alive(mnt)


# --- d. cores coming and going while threads list and read -------------------------------------

CHURN_CYCLES = 30
CHURN_READERS = 4
CHURN_FILES = ("cmdline", "maps", "stat", "status", "comm", "environ", "auxv", "statm")
HELD = ("maps", "control")  # a rendered file and a snapshot one
GONE = {errno.ENOENT, errno.ESTALE}


def test_cores_come_and_go_under_readers(daemon, cores, tmp_path):
    """One core stays; the others are linked into the directory and removed again, over and
    over, while threads list the mount and read its <pid>/ files and the root's, fresh and
    through fds kept open while their core goes (closed once it is gone).  A read either fails as
    a vanished file does (ENOENT, ESTALE) or is the file's text: never another's, never a mix.
    The daemon lives, and exits cleanly."""
    d = tmp_path / "store"
    d.mkdir()
    stay, *coming = cores
    os.link(stay, d / "core.stay")
    want = {}
    for c in cores:
        pid = pid_of(c)
        tid = pid  # the main thread's task directory
        for f in CHURN_FILES:
            want[pid, f] = corefs_cat(c, f).stdout
        want[pid, "task/regs"] = corefs_cat(c, f"task/{tid}/regs").stdout
        want[pid, "control"] = b"state core\n"
    pids = {pid_of(c) for c in cores}
    stay_pid = pid_of(stay)
    done = threading.Event()
    bad = Mismatches()
    reads = [0] * CHURN_READERS
    came = [0] * CHURN_READERS     # of them, reads of a core that comes and goes

    with mounted(d, corefs=daemon) as mnt:
        def churn():
            try:
                for i in range(CHURN_CYCLES):
                    for j, c in enumerate(coming):
                        os.link(c, d / f"core.{j}")
                    time.sleep(0.02)
                    for j, _ in enumerate(coming):
                        os.remove(d / f"core.{j}")
                    time.sleep(0.01 * (i % 3))
            finally:
                done.set()

        def reader(k):
            def read(path, key):
                try:
                    got = (mnt / path).read_bytes()
                except OSError as e:
                    if e.errno not in GONE or key[0] == stay_pid:
                        bad.add(f"{path}: {e}")
                    return
                reads[k] += 1
                if key[0] != stay_pid:
                    came[k] += 1
                if got != want[key]:
                    bad.add(f"{path}: {short(got)}")

            held = {}   # (pid, file): an fd kept open while its core goes, read, then closed

            def read_held(pid, f):
                try:
                    if (pid, f) not in held:
                        held[pid, f] = os.open(mnt / str(pid) / f, os.O_RDONLY)
                    got = os.pread(held[pid, f], 1 << 20, 0)
                except OSError as e:
                    if e.errno not in GONE or pid == stay_pid:
                        bad.add(f"{pid}/{f} held open: {e}")
                    close_all([held.pop((pid, f))] if (pid, f) in held else [])
                    return
                if got != want[pid, f]:
                    bad.add(f"{pid}/{f} held open: {short(got)}")

            def run():
                try:
                    while not done.is_set():
                        listed = {int(n) for n in os.listdir(mnt) if n.isdigit()}
                        if not listed <= pids or stay_pid not in listed:
                            bad.add(f"listing: {sorted(listed)}")
                        for pid in sorted(listed | pids):
                            for f in CHURN_FILES:
                                read(f"{pid}/{f}", (pid, f))
                            read(f"{pid}/task/{pid}/regs", (pid, "task/regs"))
                            for f in HELD:
                                read_held(pid, f)
                        for pid, f in [k for k in held if k[0] not in listed]:
                            close_all([held.pop((pid, f))])
                        loadavg = (mnt / "loadavg").read_bytes()
                        if not re.fullmatch(rb"0\.00 0\.00 0\.00 0/\d+ \d+\n", loadavg):
                            bad.add(f"loadavg: {short(loadavg)}")
                finally:
                    close_all(held.values())
            return run

        run_threads(mnt, [churn] + [reader(k) for k in range(CHURN_READERS)])
        bad.check(sum(reads))
        assert all(reads), f"a reader read nothing: {reads}"
        assert sum(came), "no reader ever saw a core that came and went"
        assert_alive(mnt)
        assert (mnt / str(stay_pid) / "maps").read_bytes() == want[stay_pid, "maps"]
