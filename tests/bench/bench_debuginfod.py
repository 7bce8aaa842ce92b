"""make bench, debuginfod: every thread's stack of a core whose program is only on a debuginfod
server, corefs beside eu-stack, with a cold and with a warm DEBUGINFOD_CACHE_PATH.

Not a test: it prints figures and ratios.  The core is a kernel core of tests/progs/bt_threads.c
(4 workers and the main thread, dying in its library libbt_lib.so), built with -O2 -g, cached in
build/bench/debuginfod; after the crash the executable and the library are moved out of the
place the core names, into the directory a local `debuginfod -F` indexes (127.0.0.1, started and
stopped here), so both tools must fetch them (the C library and the dynamic linker stay where
they are).  Both run with the same DEBUGINFOD_URLS and the same cache state:
  * eu-stack --core CORE (elfutils, libdwfl's own libdebuginfod lookups), wall time;
  * corefs --cat stack CORE (one process: every thread unwound and named, fetching on first
    need), wall time;
  * corefs mounted: start the daemon, read task/<tid>/stack of every thread, unmount.
cold: a new, empty cache for each run; warm: the cache the cold run filled, server still up.
Each is the median of 5 runs.  The requests the server saw in one cold run of each are printed.
"""
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import debuginfod_server as dbgd  # noqa: E402

COREFS = ROOT / "corefs"
WORK = ROOT / "build" / "bench" / "debuginfod"
PROGS = ROOT / "tests" / "progs"
RUNS = 5


def allow_core():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def make_core():
    """(core, [files only on the server]); the program is built and crashed once."""
    prog, served = WORK / "prog", WORK / "served"
    core = WORK / "core"
    files = [served / "bt_threads", served / "libbt_lib.so"]
    if core.exists() and all(f.exists() for f in files):
        return core, files
    shutil.rmtree(WORK, ignore_errors=True)
    prog.mkdir(parents=True)
    served.mkdir()
    flags = ["-O2", "-g", "-fno-optimize-sibling-calls"]
    subprocess.run(["gcc", *flags, "-fPIC", "-shared", "-o", str(prog / "libbt_lib.so"),
                    str(PROGS / "bt_lib.c")], check=True)
    subprocess.run(["gcc", *flags, "-o", str(prog / "bt_threads"), str(PROGS / "bt_threads.c"),
                    "-L", str(prog), "-lbt_lib", "-Wl,-rpath,$ORIGIN", "-pthread"], check=True)
    subprocess.run([str(prog / "bt_threads"), "crash", "4"], cwd=prog, capture_output=True,
                   preexec_fn=allow_core)
    cores = list(prog.glob("core*"))
    if not cores:
        sys.exit(f"bench: no core written in {prog}; check kernel.core_pattern")
    cores[0].rename(core)
    for f in files:
        (prog / f.name).rename(f)	# gone from where the core says it was
    return core, files


def timed(cmd, env):
    t = time.perf_counter()
    p = subprocess.run([str(c) for c in cmd], capture_output=True, env=env)
    elapsed = time.perf_counter() - t
    if p.returncode != 0 and not p.stdout:
        sys.exit(f"bench: {cmd[0]} failed: {p.stderr.decode()}")
    return elapsed, sum(1 for line in p.stdout.splitlines() if line.startswith(b"#"))


def eu_stack(core, env):
    return timed(["eu-stack", "--core", core], env)


def corefs_cat(core, env):
    return timed([COREFS, "--cat", "stack", core], env)


def corefs_mounted(core, env):
    mnt = pathlib.Path(tempfile.mkdtemp(prefix="corefs-bench-"))
    try:
        t = time.perf_counter()
        subprocess.run([str(COREFS), str(core), str(mnt)], check=True, env=env)
        frames = 0
        for tid in os.listdir(mnt / "task"):
            with open(mnt / "task" / tid / "stack", "rb") as f:
                frames += f.read().count(b"\n")
        elapsed = time.perf_counter() - t
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        mnt.rmdir()
    return elapsed, frames


def measure(run, core, url, caches):
    """(cold median s, warm median s, frames, requests the server saw in the first cold run)."""
    cold, warm, frames, asked = [], [], None, None
    for i in range(RUNS):
        cache = caches / f"{run.__name__}-{i}"
        env = dbgd.env(urls=url, cache=cache)
        before = len(server.requests())
        t, n = run(core, env)
        if asked is None:
            asked = len(server.requests()) - before
        cold.append(t)
        frames = n
        t, n = run(core, env)
        warm.append(t)
        assert n == frames, f"{run.__name__}: {n} frames warm, {frames} cold"
    return statistics.median(cold), statistics.median(warm), frames, asked


def main():
    global server
    core, files = make_core()
    caches = pathlib.Path(tempfile.mkdtemp(prefix="corefs-bench-dbgd-"))
    server = dbgd.Debuginfod(caches / "server", {f.name: f for f in files})
    try:
        for f in files:
            server.wait_for(dbgd.build_id(f))
        eu_stack(core, dbgd.env(urls=server.url, cache=caches / "warm-up"))	# page cache
        eu = measure(eu_stack, core, server.url, caches)
        cat = measure(corefs_cat, core, server.url, caches)
        mnt = measure(corefs_mounted, core, server.url, caches)
    finally:
        server.stop()
        shutil.rmtree(caches, ignore_errors=True)
    print()
    print(f"stacks of a 5-thread kernel core, its executable and library only on a local "
          f"debuginfod; frames: eu-stack {eu[2]}, corefs --cat {cat[2]}, mounted {mnt[2]}")
    print(f"requests to the server in a cold run: eu-stack {eu[3]}, corefs --cat {cat[3]}, "
          f"mounted {mnt[3]}")
    print(f"{'measure':44} {'corefs':>10} {'eu-stack':>10} {'ratio':>8}")
    for label, i in (("cold cache", 0), ("warm cache", 1)):
        for name, m in (("--cat stack", cat), ("mount, every task stack", mnt)):
            print(f"{f'{name}, {label} (ms)':44} {m[i] * 1000:10.1f} {eu[i] * 1000:10.1f} "
                  f"{m[i] / eu[i]:7.2f}x")


if __name__ == "__main__":
    main()
