"""Remote cores (issue 13): what corefs fetches and how long it takes, against downloading the
whole object with curl, side by side in one run.

Not a test: it prints a table and asserts nothing about time.  A kernel core of about 1 GiB
(tests/progs/rm_big.c: a 1 GiB region, every 8 bytes holding their address, three parked threads)
is served by nginx (http://) and by s3rver behind the verifying proxy (s3://), both from
tests/remote_servers.py on 127.0.0.1.  For each:
  * corefs: from starting `corefs -f URL MNT` to the first byte of maps (the mount included); then every task/*/stack; then the 1 GiB region read through mem in 1 MiB reads, cold;
  * the bytes and requests each step cost, from the server's own log;
  * curl -o of the whole object (for S3, signed by curl's --aws-sigv4), its time and bytes.
BENCH_MIB sets the region's size (default 1024).  The core is kept in build/bench/remote-MIB.
"""
import mmap
import os
import pathlib
import platform
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import remote_servers as rs  # noqa: E402

COREFS = ROOT / "corefs"
WORK = ROOT / "build" / "bench"
MIB = 1 << 20


def allow_core():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def make_core(mib):
    """rm_big's kernel core with a mib MiB region: (core, region address, region size)."""
    d = WORK / f"remote-{mib}"
    d.mkdir(parents=True, exist_ok=True)
    core, record = d / "core.rm_big", d / "record"
    if core.exists() and record.exists():
        _, addr, size = record.read_text().split()
        return core, int(addr, 16), int(size)
    exe = WORK / "rm_big"
    subprocess.run(["cc", "-O2", "-pthread", "-o", str(exe), str(ROOT / "tests/progs/rm_big.c")],
                   check=True)
    for old in d.glob("core*"):
        old.unlink()
    subprocess.run([str(exe), str(mib), str(record)], cwd=d, capture_output=True,
                   preexec_fn=allow_core)
    cores = [c for c in d.glob("core*") if c != core]
    if not cores:
        sys.exit(f"bench: no core written in {d}; check kernel.core_pattern")
    cores[0].rename(core)
    _, addr, size = record.read_text().split()
    return core, int(addr, 16), int(size)


class Step:
    def __init__(self, log, mark):
        self.log, self.mark, self.t = log, mark, time.perf_counter()

    def end(self):
        """(seconds, requests, body bytes) since the step began."""
        dt = time.perf_counter() - self.t
        reqs = self.log.requests()[self.mark:]
        return dt, len(reqs), sum(r.sent for r in reqs)


def through_corefs(url, env, log, region, size):
    out = {}
    mnt = pathlib.Path(tempfile.mkdtemp(prefix="corefs-bench-"))
    s = Step(log, log.mark())
    # In the foreground, the mount seen by polling: the same work as a daemonised mount, and the
    # daemon's exit is waited for at the end.
    daemon = subprocess.Popen([str(COREFS), "-f", url, str(mnt)], env=env)
    while not os.path.ismount(mnt):
        if daemon.poll() is not None:
            sys.exit(f"bench: corefs {url} exited {daemon.returncode} before mounting")
        time.sleep(0.001)
    with open(mnt / "maps", "rb") as f:
        f.read(1)
        f.read()
    out["maps"] = s.end()
    try:
        s = Step(log, log.mark())
        for tid in os.listdir(mnt / "task"):
            (mnt / "task" / tid / "stack").read_bytes()
        out["stacks"] = s.end()
        s = Step(log, log.mark())
        buf = mmap.mmap(-1, MIB)
        fd = os.open(mnt / "mem", os.O_RDONLY)
        try:
            for off in range(region, region + size, MIB):
                assert os.preadv(fd, [buf], off) == MIB, hex(off)
        finally:
            os.close(fd)
        out["mem"] = s.end()
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        daemon.wait(timeout=30)
        mnt.rmdir()
    return out


def through_curl(url, log, extra=()):
    s = Step(log, log.mark())
    subprocess.run(["curl", "-sSf", "-o", "/dev/null", *extra, url], check=True)
    return s.end()


def main():
    mib = int(os.environ.get("BENCH_MIB", "1024"))
    core, region, size = make_core(mib)
    csize = core.stat().st_size
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cpus, "
          f"kernel {platform.release()}")
    print(f"core: {csize / MIB:.0f} MiB kernel core of rm_big, region {size / MIB:.0f} MiB at "
          f"{region:#x}; servers on 127.0.0.1")
    results = {}
    with tempfile.TemporaryDirectory(prefix="corefs-bench-remote-") as tmp:
        tmp = pathlib.Path(tmp)
        with rs.HttpServer(tmp / "web", {"core": core}) as web:
            url = f"{web.url}/core"
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            r = through_corefs(url, env, web, region, size)
            r["curl"] = through_curl(url, web)
            results["nginx"] = r
        with rs.S3Server(tmp / "s3", buckets=("cores",)) as s3:
            t = time.perf_counter()
            s3.put("cores", "host1/core.rm_big", core)
            print(f"(uploaded to s3rver through the proxy in {time.perf_counter() - t:.1f} s)")
            r = through_corefs("s3://cores/host1/core.rm_big", s3.env(), s3.proxy, region, size)
            r["curl"] = through_curl(s3.object_url("cores", "host1/core.rm_big"), s3.proxy, [
                "--aws-sigv4", f"aws:amz:{rs.REGION}:s3", "--user", f"{rs.KEY_ID}:{rs.SECRET}",
                "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
            results["s3"] = r

    print()
    kinds = list(results)
    print(f"{'measure':52}" + "".join(f"{k:>24}" for k in kinds))

    def row(label, fn):
        print(f"{label:52}" + "".join(f"{fn(results[k]):>24}" for k in kinds))

    def cost(step):
        dt, n, b = step
        return f"{dt * 1000:8.0f} ms {n:4d} req {b / MIB:7.1f} MiB"

    row("corefs: start to maps (mount included)", lambda r: cost(r["maps"]))
    row("corefs: then every task/*/stack", lambda r: cost(r["stacks"]))
    row("corefs: maps + stacks, fetched / core size",
        lambda r: f"{100 * (r['maps'][2] + r['stacks'][2]) / csize:.2f} %")
    row(f"corefs: then mem, {size / MIB:.0f} MiB region in 1 MiB reads", lambda r: cost(r["mem"]))
    row("corefs: mem throughput (MiB/s)", lambda r: f"{size / MIB / r['mem'][0]:.0f}")
    row("curl -o of the whole object", lambda r: cost(r["curl"]))
    row("curl throughput (MiB/s)", lambda r: f"{csize / MIB / r['curl'][0]:.0f}")
    row("maps + stacks: corefs time / curl time",
        lambda r: f"{(r['maps'][0] + r['stacks'][0]) / r['curl'][0]:.3f}x")


if __name__ == "__main__":
    main()
