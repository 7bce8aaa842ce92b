"""make bench: corefs's speed, measured side by side with the raw core file in one run.

Not a test: it prints figures and the ratios the goals are stated in.
  * sequential 1 MiB reads of mem over a >= 1 GiB region, against reading the same bytes from
    the core file (both from the page cache, warmed first);              goal >= 0.3x raw
  * p50 latency of random 4 KiB reads of mem (raw file beside it);     goal <= 25 us
  * time from starting corefs to the first byte of maps, for a small core and the big one:
    it must not grow with the core's size (the core is never read whole at mount);
                                                                        goal <= 20 ms
"""
import mmap
import os
import pathlib
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
COREFS = ROOT / "corefs"
WORK = ROOT / "build" / "bench"
MIB = 1 << 20


def allow_core():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def make_core(mib):
    """A kernel core of a process holding a mib MiB region; cached in build/bench."""
    d = WORK / f"core-{mib}"
    d.mkdir(parents=True, exist_ok=True)
    core, info = d / "core", d / "region"
    if core.exists() and info.exists():
        addr, size = info.read_text().split()
        return core, int(addr, 16), int(size)
    exe = WORK / "bigcore"
    subprocess.run(["cc", "-O2", "-o", str(exe), str(ROOT / "tests/bench/bigcore.c")], check=True)
    for old in d.glob("core*"):
        old.unlink()
    p = subprocess.run([str(exe), str(mib)], cwd=d, capture_output=True, preexec_fn=allow_core)
    addr, size = p.stdout.split()
    cores = list(d.glob("core*"))
    if not cores:
        sys.exit(f"bench: no core written in {d}; check kernel.core_pattern")
    cores[0].rename(core)
    info.write_text(f"{addr.decode()} {size.decode()}")
    return core, int(addr, 16), int(size)


class Mount:
    def __init__(self, core):
        self.mnt = pathlib.Path(tempfile.mkdtemp(prefix="corefs-bench-"))
        subprocess.run([str(COREFS), str(core), str(self.mnt)], check=True)

    def close(self):
        subprocess.run(["fusermount3", "-u", str(self.mnt)], check=True)
        self.mnt.rmdir()


def file_offset(core, addr):
    """Where the byte at addr lies in the core file, from corefs's own segment table."""
    import json
    j = json.loads(subprocess.run([str(COREFS), "--cat", "core.json", str(core)],
                                  capture_output=True, check=True).stdout)
    out = subprocess.run(["readelf", "-lW", str(core)], capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            off, vaddr, filesz = int(f[1], 16), int(f[2], 16), int(f[4], 16)
            if vaddr <= addr < vaddr + filesz:
                return off + addr - vaddr
    raise SystemExit(f"bench: {addr:#x} not in the core file ({len(j['mappings'])} mappings)")


def sequential(fd, start, size, block=MIB):
    # A page-aligned buffer, as a tool reading large blocks would use: an unaligned one spans
    # one page more than FUSE's 256-page request limit and costs a second request per read.
    buf = mmap.mmap(-1, block)
    t = time.perf_counter()
    for off in range(start, start + size, block):
        n = os.preadv(fd, [buf], off)
        assert n == block, (off, n)
    return size / (time.perf_counter() - t)


def random_p50(fd, start, size, n=20000, block=4096):
    rnd = random.Random(1)
    offs = [start + rnd.randrange(0, size // block) * block for _ in range(n)]
    lat = []
    for off in offs:
        t = time.perf_counter_ns()
        os.pread(fd, block, off)
        lat.append(time.perf_counter_ns() - t)
    return statistics.median(lat) / 1000.0


def first_byte(core, runs=7):
    """Milliseconds from starting corefs (it daemonises once mounted) to the first byte of maps."""
    times = []
    for _ in range(runs):
        mnt = pathlib.Path(tempfile.mkdtemp(prefix="corefs-bench-"))
        t = time.perf_counter()
        subprocess.run([str(COREFS), str(core), str(mnt)], check=True)
        with open(mnt / "maps", "rb") as f:
            f.read(1)
        times.append((time.perf_counter() - t) * 1000)
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        mnt.rmdir()
    return statistics.median(times)


def main():
    big_mib = int(os.environ.get("BENCH_MIB", "1024"))
    core, addr, size = make_core(big_mib)
    small, _, _ = make_core(1)
    off = file_offset(core, addr)
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cpus, "
          f"kernel {platform.release()}")
    print(f"core: {core.stat().st_size / MIB:.0f} MiB kernel core, region {size / MIB:.0f} MiB at {addr:#x}")

    raw = os.open(core, os.O_RDONLY)
    sequential(raw, off, size)  # warm the page cache
    m = Mount(core)
    try:
        mem = os.open(m.mnt / "mem", os.O_RDONLY)
        sequential(mem, addr, size)  # warm corefs's side too
        raw_rate = max(sequential(raw, off, size) for _ in range(3))
        mem_rate = max(sequential(mem, addr, size) for _ in range(3))
        raw_p50 = random_p50(raw, off, size)
        mem_p50 = random_p50(mem, addr, size)
        os.close(mem)
    finally:
        m.close()
    os.close(raw)
    fb_small = first_byte(small)
    fb_big = first_byte(core)

    print()
    print(f"{'measure':48} {'corefs':>12} {'raw file':>12} {'ratio':>8}  goal")
    print(f"{'sequential 1 MiB reads of mem (MiB/s)':48} {mem_rate / MIB:12.0f} {raw_rate / MIB:12.0f} "
          f"{mem_rate / raw_rate:7.2f}x  >= 0.30x")
    print(f"{'random 4 KiB reads, p50 latency (us)':48} {mem_p50:12.1f} {raw_p50:12.1f} "
          f"{mem_p50 / raw_p50:7.1f}x  <= 25 us")
    small_mib = small.stat().st_size / MIB
    big_mib = core.stat().st_size / MIB
    print(f"{f'start to first byte of maps (ms), {small_mib:.0f} MiB core':48} {fb_small:12.1f}")
    print(f"{f'start to first byte of maps (ms), {big_mib:.0f} MiB core':48} {fb_big:12.1f} {'':12} "
          f"{fb_big / fb_small:7.2f}x  <= 20 ms, not growing")


if __name__ == "__main__":
    main()
