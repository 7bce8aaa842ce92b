"""make bench, backtraces: every thread's stack of a 100-thread core, corefs beside eu-stack.

Not a test: it prints figures and the ratio the goal is stated in.  The core is a kernel core of
tests/progs/bt_threads.c with 100 workers (101 threads, 2 to 101 frames of the program's own
each, one thread in a signal handler), built with -O2 and call-frame tables, cached in
build/bench/stack.  Both sides start from nothing and end with every thread's frames named:
  * eu-stack --core CORE --executable EXE (elfutils), wall time of the whole command;
  * corefs: start the daemon on the core, read task/<tid>/stack of every thread through the
    mount (each read unwinds that thread and names its frames, nothing is rendered before), and
    the same reads on a mount already up (without the daemon's start).
Each is the median of 7 runs, page cache warm.                            goal: corefs faster
"""
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
COREFS = ROOT / "corefs"
WORK = ROOT / "build" / "bench" / "stack"
PROGS = ROOT / "tests" / "progs"
THREADS = 100
RUNS = 7


def allow_core():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def make_core():
    WORK.mkdir(parents=True, exist_ok=True)
    core, exe = WORK / "core", WORK / "bt_threads"
    if core.exists() and exe.exists():
        return core, exe
    flags = ["-O2", "-g", "-fno-optimize-sibling-calls"]
    subprocess.run(["gcc", *flags, "-fPIC", "-shared", "-o", str(WORK / "libbt_lib.so"),
                    str(PROGS / "bt_lib.c")], check=True)
    subprocess.run(["gcc", *flags, "-o", str(exe), str(PROGS / "bt_threads.c"), "-L", str(WORK),
                    "-lbt_lib", "-Wl,-rpath,$ORIGIN", "-pthread"], check=True)
    for old in WORK.glob("core*"):
        old.unlink()
    subprocess.run([str(exe), "crash", str(THREADS)], cwd=WORK, capture_output=True,
                   preexec_fn=allow_core)
    cores = list(WORK.glob("core*"))
    if not cores:
        sys.exit(f"bench: no core written in {WORK}; check kernel.core_pattern")
    cores[0].rename(core)
    return core, exe


def eu_stack(core, exe):
    t = time.perf_counter()
    p = subprocess.run(["eu-stack", "--core", str(core), "--executable", str(exe)],
                       capture_output=True, env=dict(os.environ, DEBUGINFOD_URLS=""))
    elapsed = time.perf_counter() - t
    frames = sum(1 for line in p.stdout.splitlines() if line.startswith(b"#"))
    return elapsed, frames


def read_stacks(mnt):
    frames = 0
    for tid in os.listdir(mnt / "task"):
        with open(mnt / "task" / tid / "stack", "rb") as f:
            frames += f.read().count(b"\n")
    return frames


def corefs(core):
    """(start + read every stack, read every stack on a fresh mount, frames)."""
    mnt = pathlib.Path(tempfile.mkdtemp(prefix="corefs-bench-"))
    try:
        t = time.perf_counter()
        subprocess.run([str(COREFS), str(core), str(mnt)], check=True)
        t_mounted = time.perf_counter()
        frames = read_stacks(mnt)
        t_end = time.perf_counter()
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        mnt.rmdir()
    return t_end - t, t_end - t_mounted, frames


def main():
    core, exe = make_core()
    eu_stack(core, exe)  # warm the page cache
    corefs(core)
    eu = [eu_stack(core, exe) for _ in range(RUNS)]
    cf = [corefs(core) for _ in range(RUNS)]
    eu_frames, cf_frames = eu[0][1], cf[0][2]
    eu_ms = statistics.median(e[0] for e in eu) * 1000
    cold_ms = statistics.median(c[0] for c in cf) * 1000
    warm_ms = statistics.median(c[1] for c in cf) * 1000
    print()
    print(f"stacks of a {THREADS + 1}-thread kernel core ({core.stat().st_size >> 20} MiB), "
          f"frames: corefs {cf_frames}, eu-stack {eu_frames}")
    print(f"{'measure':48} {'corefs':>12} {'eu-stack':>12} {'ratio':>8}  goal")
    print(f"{'start, every thread stack read (ms)':48} {cold_ms:12.1f} {eu_ms:12.1f} "
          f"{cold_ms / eu_ms:7.2f}x  < 1x")
    print(f"{'every thread stack read, mounted (ms)':48} {warm_ms:12.1f} {eu_ms:12.1f} "
          f"{warm_ms / eu_ms:7.2f}x  < 1x")


if __name__ == "__main__":
    main()
