"""make bench, revival: how long `echo revive > control` takes on big cores, and the RSS after.

Not a test: it prints figures beside `cat core > /dev/null`, the cost of touching every byte of
the core once (what copying it up front would cost at the least).
  * a >= 1 GiB kernel core (bench.py's, tests/bench/bigcore.c): segments at page-aligned offsets,
    mapped straight from the core file;                    goal <= 10 ms, RSS < 1 MiB
  * a >= 1 GiB gcore core (tests/bench/bigwait.c, gcore'd while it waits): segments at an
    unaligned offset, mapped through a read-only loop device;   goal <= 50 ms, RSS < 1 MiB
Times are of the whole command as a user sees it (open, write, close of control): the median of
several revivals with the page cache warm (each process killed before the next), and one cold
revival, after the page cache was dropped (as root; it is one `echo 3 > drop_caches`).
"""
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench import COREFS, MIB, ROOT, WORK, make_core  # noqa: E402

RUNS = 7


def make_gcore(mib):
    """A gcore core of a process holding a mib MiB region; cached in build/bench."""
    d = WORK / f"gcore-{mib}"
    d.mkdir(parents=True, exist_ok=True)
    core = d / "core"
    if core.exists():
        return core
    exe = WORK / "bigwait"
    subprocess.run(["cc", "-O2", "-pthread", "-o", str(exe), str(ROOT / "tests/bench/bigwait.c")],
                   check=True)
    p = subprocess.Popen([str(exe), str(mib)], stdout=subprocess.PIPE, cwd=d)
    try:
        p.stdout.readline()
        tmp = d / "core.tmp"
        subprocess.run(["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off", "-p",
                        str(p.pid), "-ex", f"gcore {tmp}"], capture_output=True, check=True)
        tmp.rename(core)
    finally:
        p.kill()
        p.wait()
    return core


def cat_ms(core):
    """`cat core > /dev/null`, page cache warm (one read first)."""
    subprocess.run(["cat", str(core)], stdout=subprocess.DEVNULL, check=True)
    t = time.perf_counter()
    subprocess.run(["cat", str(core)], stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t) * 1000


def control(mnt):
    return (mnt / "control").read_text()


def revive_once(mnt):
    """ms for the revive command, RSS in kB right after; the process is killed."""
    t = time.perf_counter()
    fd = os.open(mnt / "control", os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"revive\n")
    os.close(fd)
    ms = (time.perf_counter() - t) * 1000
    text = control(mnt)
    pid = int(re.search(r"^pid (\d+)$", text, re.M)[1])
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"^VmRSS:\s+(\d+) kB$", status, re.M)[1])
    fd = os.open(mnt / "control", os.O_WRONLY)
    os.write(fd, b"kill\n")
    os.close(fd)
    assert "state killed" in control(mnt)
    return ms, rss


def drop_caches():
    """Empty the page cache (root only); False when it cannot."""
    try:
        os.sync()
        pathlib.Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def measure(core):
    """(cold ms or None, warm median ms, largest RSS kB)."""
    mnt = pathlib.Path(tempfile.mkdtemp(prefix="corefs-bench-"))
    subprocess.run([str(COREFS), str(core), str(mnt)], check=True)
    try:
        cold = revive_once(mnt)[0] if drop_caches() else None
        subprocess.run(["cat", str(core)], stdout=subprocess.DEVNULL, check=True)
        runs = [revive_once(mnt) for _ in range(RUNS)]
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        mnt.rmdir()
    return cold, statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def main():
    kernel, _, _ = make_core(1024)
    gcore = make_gcore(1024)
    print("revival (echo revive > control); cat: `cat core > /dev/null`, warm")
    print(f"{'core':34} {'MiB':>5} {'warm ms':>8} {'cold ms':>8} {'RSS kB':>7} {'cat ms':>7}  "
          "goal (warm, RSS)")
    for name, core, goal in (("kernel core (mapped directly)", kernel, 10),
                             ("gcore core (through a loop device)", gcore, 50)):
        cold, warm, rss = measure(core)
        cold_text = f"{cold:8.1f}" if cold is not None else f"{'-':>8}"
        print(f"{name:34} {core.stat().st_size / MIB:5.0f} {warm:8.1f} {cold_text} {rss:7d} "
              f"{cat_ms(core):7.0f}  <= {goal} ms, < 1 MiB")


if __name__ == "__main__":
    main()
