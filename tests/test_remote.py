"""Remote cores (issue 13): `corefs http://HOST/PATH MNT`, `corefs s3://BUCKET/KEY MNT` and a
prefix `s3://BUCKET/PREFIX/` as a /proc of dead processes.

The cores are made at test time: kernel cores of rv_crash (threads parked in system calls, bytes
planted at recorded addresses) and rm_big (about 256 MiB, every 8 bytes holding their own
address), a gcore core of rv_compute, a kernel core of args_env, and rv_crash's core compressed
with zstd under systemd-coredump's name.  They are served by the servers of
tests/remote_servers.py: Debian's nginx (http://) and s3rver behind the proxy that verifies every
request's Signature V4 (s3://).

Oracles, none of them the remote path itself:
* the same core mounted locally (its whole tree, file by file; `mem` at many addresses, the
  errors included), and the core file's own bytes at the recorded addresses (conftest.pt_loads);
* the pattern rm_big wrote (each 8 bytes = their address), which says where any byte belongs;
* the servers' own logs for what was fetched: nginx's access log ($body_bytes_sent) and the
  proxy's log of each request (method, path, Range, status, body bytes sent);
* each core's pid read here from its NT_PRPSINFO note;
* gdb on the local core against gdb attached to the process revived from the remote core.

The one thing a remote core legitimately shows differently: `stat`'s starttime (field 22) is when
the core was written, the file's mtime for a local core, and for a remote one the object's
Last-Modified (whole seconds), which the test reads from the server and checks instead.
"""
import contextlib
import email.utils
import errno
import http.client
import json
import os
import pathlib
import random
import re
import shutil
import stat
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import (COREFS, build_prog, crash, force_unmount, mount_listed, mounted,
                      one_line_error, pt_loads, wait_for_mount, wait_until)
from test_compressed import compress, coredump_name, core_bytes
from test_revive import (assert_same_threads_and_registers, gdb_view, revived,
                         gcore_running as gcore_compute)
from test_revive import subreaper  # noqa: F401 (an autouse fixture: revived processes come here)

MIB = 1 << 20
BIG_MIB = 232                   # rm_big's region: a core of about 256 MiB
READ_BOUND = 30                 # seconds: a read that cannot be served fails within this (spec)
SLACK = 15                      # seconds beyond it for backoff and the kernel's round trips
HUNG = 120                      # a call still waiting after this long is a hang
SESSION_KEY = "ASIAEXAMPLESESSION02"            # temporary credentials: a key with a token
SESSION = ("sessionSecretExample/ghi+jkl", "FwoGZXIvYXdzEXAMPLE//token+for/corefs=")


# --- what a core says of itself, read here ---------------------------------------------------------

def note_pid(core):
    """pr_pid of the core's NT_PRPSINFO (x86_64 elf_prpsinfo: at byte 24), read with struct from
    its PT_NOTE segments."""
    data = pathlib.Path(core).read_bytes()
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        p_type, _, off, _, _, filesz, _, _ = struct.unpack_from("<IIQQQQQQ", data,
                                                                phoff + i * phentsize)
        if p_type != 4:
            continue
        pos, end = off, off + filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            desc = pos + 12 + (namesz + 3 & ~3)
            if ntype == 3 and data[pos + 12:pos + 12 + namesz].rstrip(b"\0") == b"CORE":
                return struct.unpack_from("<i", data, desc + 24)[0]
            pos = desc + (descsz + 3 & ~3)
    raise AssertionError(f"{core}: no NT_PRPSINFO")


class Core:
    def __init__(self, path, exe, record=None):
        self.path, self.exe = pathlib.Path(path), pathlib.Path(exe)
        self.size = self.path.stat().st_size
        self.pid = note_pid(self.path)
        self.region_size = None
        self.addrs = {}
        if record and record.exists():
            for line in record.read_text().splitlines():
                f = line.split()
                self.addrs[f[0]] = int(f[1], 16)
                if f[0] == "region":
                    self.region_size = int(f[2])


def whole_seconds(core):
    """Give the core an mtime of whole seconds (a Last-Modified header has no more)."""
    t = int(core.stat().st_mtime)
    os.utime(core, (t, t))


@pytest.fixture(scope="module")
def cores(tmp_path_factory):
    """K: rv_crash's kernel core; G: rv_compute's gcore core; B: rm_big's ~256 MiB kernel core;
    A: args_env's kernel core (Core objects); KZ and AZ: K and A compressed with zstd, named as
    systemd-coredump names them (paths)."""
    base = tmp_path_factory.mktemp("remote")
    out = {}
    d = base / "k"
    d.mkdir()
    exe = build_prog("rv_crash", d, "-w")
    core, _ = crash(exe, d, "main", str(d / "record"))
    out["K"] = Core(core, exe, d / "record")
    d = base / "g"
    d.mkdir()
    exe = pathlib.Path(shutil.copy(build_prog("rv_compute", base), d / "rv_compute"))
    out["G"] = Core(gcore_compute(exe, d), exe)
    d = base / "b"
    d.mkdir()
    exe = build_prog("rm_big", d)
    core, _ = crash(exe, d, str(BIG_MIB), str(d / "record"))
    out["B"] = Core(core, exe, d / "record")
    d = base / "a"
    d.mkdir()
    exe = build_prog("args_env", d)
    core, _ = crash(exe, d, "remote")
    out["A"] = Core(core, exe)
    d = base / "a2"
    d.mkdir()
    core, _ = crash(exe, d, "remote", "again")
    out["A2"] = Core(core, exe)
    for c in out.values():
        whole_seconds(c.path)
    k, a = out["K"], out["A"]
    out["KZ"] = compress(k.path, base / coredump_name("rv_crash", k.pid,
                                                      k.path.stat().st_mtime_ns, "zstd"), "zstd")
    out["AZ"] = compress(a.path, base / coredump_name("args_env", a.pid,
                                                      a.path.stat().st_mtime_ns, "zstd"), "zstd")
    return out


# --- the servers ------------------------------------------------------------------------------------

def servers_or_skip():
    """Import the servers' module once nginx, node and npm are there; skip when they cannot be."""
    missing = [t for t in ("nginx", "node", "npm") if not shutil.which(t)]
    if missing:
        pytest.skip(f"cannot run the test servers: {' '.join(missing)} not installed "
                    f"(apt-get install nginx nodejs npm)")
    import remote_servers
    try:
        remote_servers.ensure_s3rver()
    except AssertionError as e:
        pytest.skip(f"cannot install s3rver: {e}")
    return remote_servers


def path(c):
    return c.path if isinstance(c, Core) else c


HTTP_NAMES = {"K": "cores/k/core", "G": "cores/g/core", "B": "cores/b/core",
              "KZ": "cores/kz/core.zst"}
S3_KEYS = {"K": "one/core.rv_crash", "G": "one/gcore.rv_compute", "B": "big/core.rm_big"}


class Servers:
    """nginx and S3 serving the module's cores; url(kind, name) and env(kind) to mount them."""

    def __init__(self, base, cores):
        rs = servers_or_skip()
        self.rs = rs
        self.web = rs.HttpServer(base / "web", {HTTP_NAMES[n]: path(cores[n])
                                                for n in HTTP_NAMES})
        for n, name in HTTP_NAMES.items():     # Last-Modified: the core's own mtime
            t = path(cores[n]).stat().st_mtime
            os.utime(self.web.www / name, (t, t))
        try:
            self.s3 = rs.S3Server(base / "s3", buckets=("cores",),
                                  keys={rs.KEY_ID: (rs.SECRET, None), SESSION_KEY: SESSION})
        except BaseException:
            self.web.stop()
            raise
        self.keys = dict(S3_KEYS)
        self.keys["KZ"] = f"z/{cores['KZ'].name}"
        for n, key in self.keys.items():
            self.s3.put("cores", key, path(cores[n]))

    def stop(self):
        self.web.stop()
        self.s3.stop()

    def url(self, kind, name):
        if kind == "http":
            return f"{self.web.url}/{HTTP_NAMES[name]}"
        return f"s3://cores/{self.keys[name]}"

    def env(self, kind):
        if kind == "s3":
            return self.s3.env()
        return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}

    def log(self, kind):
        """(requests(), mark(), bytes_sent(mark)) of the server."""
        return self.web if kind == "http" else self.s3.proxy

    def head(self, kind, name):
        """The object's headers as the server gives them to a HEAD (names in lowercase)."""
        if kind == "http":
            conn = http.client.HTTPConnection("127.0.0.1", self.web.port, timeout=10)
            conn.request("HEAD", "/" + HTTP_NAMES[name], headers={"User-Agent": self.rs.OWN_AGENT})
            headers = conn.getresponse().getheaders()
            conn.close()
        else:
            status, headers, _ = self.s3.request("HEAD", f"/cores/{self.keys[name]}")
            assert status == 200, status
            headers = headers.items()
        return {k.lower(): v for k, v in headers}

    def last_modified(self, kind, name):
        """The object's Last-Modified, in seconds since the epoch."""
        return int(email.utils.parsedate_to_datetime(
            self.head(kind, name)["last-modified"]).timestamp())


@pytest.fixture(scope="module")
def servers(cores, tmp_path_factory):
    s = Servers(tmp_path_factory.mktemp("servers"), cores)
    yield s
    s.stop()


# --- mounting a remote core ---------------------------------------------------------------------------

class Hung(AssertionError):
    pass


def bounded(fn, seconds=HUNG, what="a read"):
    """fn() in a thread joined with a timeout: its value, its exception, or Hung."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:      # noqa: B902 (handed to the caller)
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise Hung(f"{what}: still waiting after {seconds} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def unmount_now(mnt):
    """A mount a test is done with, whatever its state: its connection aborted (every waiting
    request fails with ENOTCONN, so the daemon ends) and detached (umount -l), open files or not."""
    force_unmount(mnt)
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


class Mount:
    """A mount point (path) and its daemon (proc); stderr is the daemon's, once it has exited."""

    def __init__(self, path, proc):
        self.path, self.proc, self.stderr = path, proc, None

    def __truediv__(self, name):
        return self.path / name

    def __fspath__(self):
        return str(self.path)


@contextlib.contextmanager
def rmount(target, *opts, env=None, quiet=True):
    """conftest.mounted() for a URL, with an environment: `corefs -f OPTS TARGET MNT`; yields a
    Mount.  On exit: unmount, require a clean exit (status 0, no mount left) and, when quiet, an
    empty stderr."""
    mnt = pathlib.Path(tempfile.mkdtemp(prefix="corefs-rmnt-"))
    errf = tempfile.TemporaryFile()
    proc = subprocess.Popen([str(COREFS), "-f", *opts, str(target), str(mnt)],
                            stdout=subprocess.DEVNULL, stderr=errf, env=env)
    m = Mount(mnt, proc)
    failure = None
    try:
        try:
            wait_for_mount(mnt, proc, timeout=60)
        except AssertionError:
            errf.seek(0)
            raise AssertionError(f"corefs {target} did not mount: {errf.read().decode()}")
        yield m
    except BaseException as e:
        failure = e
        raise
    finally:
        if failure is not None and os.path.ismount(mnt):
            unmount_now(mnt)        # a hung read would keep fusermount3 -u from unmounting
        if os.path.ismount(mnt):
            u = subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
            if u.returncode != 0:
                unmount_now(mnt)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            if failure is None:
                raise AssertionError(f"corefs {target} did not exit after unmount")
        errf.seek(0)
        m.stderr = errf.read().decode(errors="replace")
        errf.close()
        if failure is not None:
            wait_until(lambda: not mount_listed(mnt), f"{mnt} unmounted after corefs ended")
        if not os.path.ismount(mnt):
            mnt.rmdir()
    assert proc.returncode == 0, f"corefs {target} exited {proc.returncode}: {m.stderr}"
    assert not mount_listed(mnt), f"{mnt} still mounted"
    if quiet:
        assert m.stderr == "", f"corefs {target} wrote to stderr: {m.stderr}"


def refused(target, env, timeout=HUNG):
    """`corefs TARGET MNT` that must not mount: the completed process; nothing left mounted."""
    mnt = pathlib.Path(tempfile.mkdtemp(prefix="corefs-rmnt-"))
    try:
        p = subprocess.run([str(COREFS), str(target), str(mnt)], capture_output=True, env=env,
                           timeout=timeout)
        assert not os.path.ismount(mnt) and not mount_listed(mnt), f"{target} was mounted"
        return p
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", str(mnt)])
        mnt.rmdir()


# --- the tree, file by file ---------------------------------------------------------------------------

def read_at(path, addr, n):
    """n bytes of a mem file at addr, or the errno the read failed with."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, n, addr)
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def tree(mnt):
    """{relative path: what it is} of a mount's whole tree but mem and control: a directory, a
    symbolic link's target (or the errno readlink gives), a file's size and bytes (or errno);
    core.json parsed, without its "core" (the path or URL) and "remote"."""
    mnt, out = pathlib.Path(mnt), {}
    for dirpath, dirnames, filenames in os.walk(mnt):
        for name in dirnames + filenames:
            p = pathlib.Path(dirpath) / name
            rel = str(p.relative_to(mnt))
            if rel in ("mem", "control"):
                continue
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                try:
                    out[rel] = ("link", os.readlink(p))
                except OSError as e:
                    out[rel] = ("link", errno.errorcode[e.errno])
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                try:
                    data = p.read_bytes()
                except OSError as e:
                    out[rel] = ("file", errno.errorcode[e.errno])
                    continue
                if name == "core.json":
                    j = json.loads(data)
                    j.pop("core")
                    j.pop("remote", None)
                    out[rel] = ("json", j)
                else:
                    out[rel] = ("file", st.st_size, data)
    return out


RSS_KEYS = {"Rss", "Pss", "Pss_Dirty", "Pss_Anon", "Pss_File", "Pss_Shmem", "Shared_Clean",
            "Shared_Dirty", "Private_Clean", "Private_Dirty", "Referenced", "Anonymous",
            "VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"}


def split_counts(t):
    """The tree with what varies taken out: stat's field 22 (starttime) of every stat file (their
    values returned as a set), and the counts of resident memory (stat's field 24, statm's
    resident and shared, the Rss-like lines of smaps, smaps_rollup and status) returned as
    {(path, index): value}."""
    starts, counts = set(), {}
    for rel, v in list(t.items()):
        if v[0] != "file" or not isinstance(v[-1], bytes):
            continue
        name = rel.rsplit("/", 1)[-1]
        if name not in ("stat", "statm", "smaps", "smaps_rollup", "status"):
            continue
        text = v[2].decode()
        if name == "stat":
            head, tail = text.rsplit(")", 1)
            f = tail.split()
            starts.add(f[19])       # field 22: the 20th after the comm
            counts[(rel, 24)] = int(f[21])
            f[19] = f[21] = "-"
            text = head + ") " + " ".join(f)
        elif name == "statm":
            f = text.split()
            counts[(rel, 1)], counts[(rel, 2)] = int(f[1]), int(f[2])
            f[1] = f[2] = "-"
            text = " ".join(f)
        elif name in ("smaps", "smaps_rollup", "status"):
            lines = text.split("\n")
            for i, line in enumerate(lines):
                key, _, value = line.partition(":")
                if key in RSS_KEYS:
                    counts[(rel, i)] = int(value.split()[0])
                    lines[i] = key + ": -"
            text = "\n".join(lines)
        else:
            continue
        t[rel] = ("file", "counts out", text)
    return t, starts, counts


def probe_addrs(local, core, extra=(), seed=1):
    """Addresses to read mem at: each mapping's start, middle, last page, last byte, the page
    before it (often a gap), random ones inside the core's PT_LOADs, addresses nothing maps, and
    extra."""
    addrs = set(extra)
    for line in (local / "maps").read_text().splitlines():
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        addrs |= {lo, lo + (hi - lo) // 2 // 4096 * 4096, hi - 4096, hi - 1, lo - 4096}
    rnd = random.Random(seed)
    for load in pt_loads(core):
        for _ in range(3):
            addrs.add(load.vaddr + rnd.randrange(max(load.memsz, 1)))
    addrs |= {0, 0x1000, 0x10000, (1 << 47) - 4096, (1 << 62)}
    return sorted(a for a in addrs if 0 <= a < (1 << 63) - MIB)     # an off_t


def mem_view(mnt, addrs, n=4096):
    return {a: read_at(mnt / "mem", a, n) for a in addrs}


def assert_same_tree(remote, local, core, last_modified, record_addrs=()):
    """Every file of the remote mount equals the local mount's of the same core; stat's
    starttime is the object's Last-Modified; mem equals the local mount's at every probe (bytes
    or errno) and the core file's own bytes at the recorded addresses."""
    mine, theirs = tree(remote), tree(local)
    assert sorted(mine) == sorted(theirs), "not the same files"
    mine, starts, rss = split_counts(mine)
    theirs, _, local_rss = split_counts(theirs)
    for rel in theirs:
        assert mine[rel] == theirs[rel], f"{rel} differs: {first_difference(mine[rel], theirs[rel])}"
    # Resident memory: a remote core counts every page it holds, as a remote object has no holes
    # to tell and counting a gcore core's pages of zeros would fetch all of it (formats/resident.c).
    assert sorted(rss) == sorted(local_rss)
    for key, n in local_rss.items():
        assert rss[key] >= n, f"{key}: remote {rss[key]}, local {n}"
    held = sum(load.filesz for load in pt_loads(core.path))
    assert rss[("smaps_rollup", 1)] <= held // 1024, (rss[("smaps_rollup", 1)], held // 1024)
    addrs = probe_addrs(local, core.path, record_addrs)
    got, want = mem_view(remote, addrs), mem_view(local, addrs)
    for a in addrs:
        assert got[a] == want[a], f"mem at {a:#x}: remote {short(got[a])}, local {short(want[a])}"
    held = [a for a in addrs if isinstance(want[a], bytes) and want[a]]
    failed = [a for a in addrs if want[a] == errno.EIO]
    assert len(held) >= 20 and len(failed) >= 3, (len(held), len(failed))
    for a in record_addrs:
        raw = core_bytes(core.path, a, 64)
        assert raw and got[a][:len(raw)] == raw, f"mem at {a:#x} is not the core file's bytes"
    # When the core was written: the object's Last-Modified, as the file's mtime for a local core.
    assert starts == {str(last_modified * 100)}, \
        f"starttime {starts}, the object's Last-Modified {last_modified} s"


def first_difference(mine, theirs):
    """The first line where two entries of tree() differ, remote's then local's."""
    if mine[0] == "json" and theirs[0] == "json":
        keys = sorted(set(mine[1]) | set(theirs[1]))
        k = next(k for k in keys if mine[1].get(k) != theirs[1].get(k))
        return f"core.json[{k!r}]: remote {mine[1].get(k)!r:.300} local {theirs[1].get(k)!r:.300}"
    a, b = mine[-1], theirs[-1]
    if isinstance(a, bytes) and isinstance(b, bytes):
        a, b = a.decode(errors="replace"), b.decode(errors="replace")
    if isinstance(a, str) and isinstance(b, str):
        for x, y in zip(a.splitlines() + ["<end>"], b.splitlines() + ["<end>"]):
            if x != y:
                return f"remote {x!r} local {y!r}"
    return f"remote {mine!r:.300} local {theirs!r:.300}"


def short(v):
    return errno.errorcode.get(v, v) if isinstance(v, int) else f"{len(v)} bytes {v[:16].hex()}"


def remote_json(m):
    return json.loads(bounded(lambda: (m / "core.json").read_bytes(), what="core.json"))


# --- 1. the tree of a remote core is the local core's --------------------------------------------------

@pytest.mark.parametrize("kind", ["http", "s3"])
@pytest.mark.parametrize("name", ["K", "G"])
def test_tree_equals_the_local_mount(servers, cores, kind, name):
    core = cores[name]
    url = servers.url(kind, name)
    log = servers.log(kind)
    before = log.mark()
    with mounted(core.path) as local, rmount(url, env=servers.env(kind)) as m:
        mark = log.mark()
        bounded(lambda: assert_same_tree(m, local, core, servers.last_modified(kind, name),
                                         tuple(core.addrs.values())), what="the tree")
        j = remote_json(m)
        r = j["remote"]
        assert j["core"] == url and r["url"] == url
        assert r["size"] == core.size == j["file_size"]
        assert r["problem"] is None and j["problems"] == []
        assert r["version"] == servers.head(kind, name)["etag"], r
        # What the mount says it fetched is no more than the server says it sent.
        assert 0 < r["requests"] <= len(log.requests()[before:]), r
        assert 0 < r["bytes_fetched"] <= log.bytes_sent(before), (r, log.bytes_sent(before))
        assert log.bytes_sent(mark) > 0, "the walk fetched through the server"


# --- 2. a mount fetches what it reads, not the core ----------------------------------------------------

@pytest.mark.parametrize("kind", ["http", "s3"])
def test_maps_and_stacks_fetch_a_small_part(servers, cores, kind):
    big = cores["B"]
    log = servers.log(kind)
    url = servers.url(kind, "B")
    before = log.mark()
    with rmount(url, env=servers.env(kind)) as m:
        at_mount = log.requests()[before:]
        mount_bytes = log.bytes_sent(before)
        assert len(at_mount) <= 8, f"{len(at_mount)} requests to mount: {at_mount}"

        def read():
            maps = (m / "maps").read_text()
            j = (m / "core.json").read_bytes()
            stacks = {t: (m / "task" / t / "stack").read_text() for t in os.listdir(m / "task")}
            return maps, j, stacks
        maps, j, stacks = bounded(read, what="maps, core.json and stacks")
        sent = log.bytes_sent(before)
        reqs = log.requests()[before:]
        print(f"{kind}: core {big.size} bytes; mount {len(at_mount)} requests {mount_bytes} "
              f"bytes; with maps, core.json and {len(stacks)} stacks {len(reqs)} requests "
              f"{sent} bytes ({100 * sent / big.size:.2f}%)")
        assert sent <= 0.05 * big.size, f"{sent} bytes sent for a {big.size}-byte core"
        assert len(stacks) == 4 and all(stacks.values()), stacks
        # the bytes served are rm_big's: each 8 bytes hold their address
        region = big.addrs["region"]
        for k in range(0, big.region_size - 4096, 37 * MIB):
            a = region + k
            data = bounded(lambda: read_at(m / "mem", a, 4096))
            assert isinstance(data, bytes) and len(data) == 4096, (hex(a), short(data))
            assert all(struct.unpack_from("<Q", data, i)[0] == a + i for i in range(0, 4096, 8))
        assert maps == cat("maps", big.path).decode()
        r = json.loads(j)["remote"]
        assert r["size"] == big.size


def test_daemonized_mount_reads_large_ranges(servers, cores):
    """`corefs URL MNT` as the README shows it, without -f: the daemon forks after opening the
    object; 1 MiB reads of mem (several blocks each, read ahead) get the core's bytes."""
    big = cores["B"]
    mnt = pathlib.Path(tempfile.mkdtemp(prefix="corefs-rmnt-"))
    p = subprocess.run([str(COREFS), servers.url("http", "B"), str(mnt)], capture_output=True,
                       env=servers.env("http"), timeout=60)
    assert p.returncode == 0 and p.stderr == b"", p.stderr.decode()
    try:
        start = big.addrs["region"]

        def reads():
            for k in range(8):
                data = read_at(mnt / "mem", start + k * MIB, MIB)
                if not pattern_ok_bytes(data, start + k * MIB):
                    return f"MiB {k} of the region: {short(data)}"
        t0 = time.monotonic()
        wrong = bounded(reads, READ_BOUND + SLACK, "1 MiB reads of mem")
        assert wrong is None, f"{wrong} after {time.monotonic() - t0:.1f} s"
    finally:
        daemons = daemons_of(mnt)
        if os.path.ismount(mnt) and subprocess.run(["fusermount3", "-u", str(mnt)]).returncode:
            unmount_now(mnt)
        wait_until(lambda: not mount_listed(mnt), f"{mnt} unmounted")
        mnt.rmdir()
        left = []
        end = time.monotonic() + 10
        while daemons and time.monotonic() < end:
            daemons = [d for d in daemons if not ended(d)]
            time.sleep(0.05)
        for d in daemons:        # the daemon this test started, by its pid
            left.append(f"{d}: {pathlib.Path(f'/proc/{d}/wchan').read_text()}")
            os.kill(d, 9)
    assert not left, f"the daemon did not exit after the unmount (pid: wait channel): {left}"


def ended(pid):
    """Whether pid has exited: gone, or a zombie (reaped here when it is this process's: the
    subreaper of test_revive makes the daemon, which forked away, a child of this process)."""
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    if state != "Z":
        return False
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return True


def daemons_of(mnt):
    """Pids of the corefs processes whose last argument is mnt."""
    out = []
    for p in pathlib.Path("/proc").iterdir():
        try:
            argv = (p / "cmdline").read_bytes().split(b"\0") if p.name.isdigit() else []
        except OSError:
            continue
        if len(argv) > 2 and argv[0] == str(COREFS).encode() and argv[-2] == str(mnt).encode():
            out.append(int(p.name))
    return out


# --- 3. faults ----------------------------------------------------------------------------------------

def region_reader(m, start, size, progress):
    """Read [start, start + size) of mem in 1 MiB preads; the errno of the first failure (or 0)
    and the monotonic time it came.  progress[0] counts the MiB read."""
    fd = os.open(m / "mem", os.O_RDONLY)
    try:
        for off in range(start, start + size, MIB):
            try:
                n = len(os.pread(fd, MIB, off))
            except OSError as e:
                return e.errno, time.monotonic()
            if n != MIB:
                return -n, time.monotonic()
            progress[0] += 1
        return 0, time.monotonic()
    finally:
        os.close(fd)


def pattern_ok(m, addr):
    return pattern_ok_bytes(bounded(lambda: read_at(m / "mem", addr, MIB),
                                    what=f"mem at {addr:#x}"), addr)


@pytest.mark.parametrize("fault", ["nginx-killed", "s3-killed", "s3-hung"])
def test_a_read_the_server_cannot_serve_is_eio_in_bounded_time(servers, cores, tmp_path, fault):
    """The server dies (or hangs) in the middle of a large read of mem: the read fails with
    EIO within the bound, not a hang; the daemon lives on (maps answers); once the server is
    back, the same bytes read right."""
    big = cores["B"]
    rs = servers.rs
    if fault == "nginx-killed":
        srv = rs.HttpServer(tmp_path / "web", {"big": big.path}, rate="16m")
        url, env = f"{srv.url}/big", servers.env("http")
    else:
        srv, url, env = None, servers.url("s3", "B"), servers.env("s3")
    proxy = servers.s3.proxy
    try:
        with rmount(url, env=env, quiet=False) as m:
            maps = bounded(lambda: (m / "maps").read_bytes())
            start = big.addrs["region"] + 64 * MIB
            progress = [0]
            if fault == "s3-killed":
                proxy.rate = 16 << 20
                proxy.kill_mid_body(0.5)
            elif fault == "s3-hung":
                proxy.pause()
            box = {}
            reader = threading.Thread(target=lambda: box.setdefault(
                "r", region_reader(m, start, 96 * MIB, progress)), daemon=True)
            reader.start()
            if fault == "nginx-killed":
                wait_until(lambda: progress[0] >= 1 or not reader.is_alive(),
                           "the reader got its first MiB", 30)
                srv.kill()
            elif fault == "s3-killed":
                wait_until(lambda: not proxy.alive or not reader.is_alive(),
                           "the proxy was killed mid-body", 30)
            t0 = time.monotonic()
            reader.join(READ_BOUND + SLACK)
            assert not reader.is_alive(), \
                f"{fault}: the read still waits {READ_BOUND + SLACK} s after the fault"
            err, when = box["r"]
            assert err == errno.EIO, f"{fault}: the read ended with {short(err) if err else 0}"
            assert when - t0 <= READ_BOUND + SLACK
            print(f"{fault}: EIO {when - t0:.1f} s after the fault, {progress[0]} MiB read first")
            assert m.proc.poll() is None, "the daemon died"
            assert bounded(lambda: (m / "maps").read_bytes()) == maps
            # the server comes back: the bytes that failed read right
            if fault == "nginx-killed":
                srv.start()
            elif fault == "s3-killed":
                proxy.rate = None
                proxy.restart()
            else:
                proxy.resume()
            failed_at = start + progress[0] * MIB
            assert pattern_ok(m, failed_at), f"{fault}: mem at {failed_at:#x} after the server came back"
            assert pattern_ok(m, start + 95 * MIB)
    finally:
        proxy.rate = None
        proxy.resume()
        if not proxy.alive:
            proxy.restart()
        if srv is not None:
            srv.stop()


def inverted(core, dest):
    """A copy of core whose every PT_LOAD byte is inverted: the same headers and notes, the same
    layout, other memory; a mount that mixed the two would show bytes of it."""
    data = bytearray(core.read_bytes())
    for load in pt_loads(core):
        seg = data[load.offset:load.offset + load.filesz]
        data[load.offset:load.offset + load.filesz] = bytes(b ^ 0xFF for b in seg) \
            if len(seg) < 1 << 16 else (int.from_bytes(seg, "little") ^ ((1 << 8 * len(seg)) - 1)
                                       ).to_bytes(len(seg), "little")
    dest.write_bytes(data)
    return dest


@pytest.fixture(scope="module")
def k_inverted(cores, tmp_path_factory):
    return inverted(cores["K"].path, tmp_path_factory.mktemp("inv") / "core.inverted")


@pytest.mark.parametrize("kind", ["http", "s3"])
def test_object_replaced_under_the_mount(servers, cores, k_inverted, kind):
    """Bytes read before the change are the old core's; bytes not read before fail with EIO,
    never the new object's; core.json says why."""
    k = cores["K"]
    if kind == "http":
        url = servers.web.add("replace/core", k.path)
    else:
        servers.s3.put("cores", "replace/core", k.path)
        url = "s3://cores/replace/core"
    big = k.addrs["big"]                  # the middle of rv_crash's 64 MiB region
    far = [big - 30 * MIB, big + 28 * MIB, big - 20 * MIB]
    with rmount(url, env=servers.env(kind), quiet=False) as m:
        old = bounded(lambda: read_at(m / "mem", big, 4096))
        assert old == core_bytes(k.path, big, 4096)
        if kind == "http":
            servers.web.replace("replace/core", k_inverted)
        else:
            servers.s3.replace("cores", "replace/core", k_inverted)
        results = {a: bounded(lambda: read_at(m / "mem", a, 4096)) for a in [big, *far]}
        for a, got in results.items():
            assert got != core_bytes(k_inverted, a, 4096), f"{a:#x}: the new object's bytes"
            assert got in (errno.EIO, core_bytes(k.path, a, 4096)), f"{a:#x}: {short(got)}"
        assert errno.EIO in [results[a] for a in far], \
            f"reads of bytes not fetched before the change: {[short(v) for v in results.values()]}"
        j = remote_json(m)
        assert j["remote"]["problem"], j["remote"]
        assert any(re.search(r"chang|replac|modif|version|etag", p, re.I) for p in j["problems"]), \
            j["problems"]
        assert m.proc.poll() is None


@pytest.mark.parametrize("case", ["wrong-secret", "wrong-key-id", "wrong-token", "no-credentials",
                                  "404-s3", "404-http", "unreachable"])
def test_refusals_at_mount_are_one_line(servers, tmp_path, case):
    s3 = servers.s3
    url, env = servers.url("s3", "K"), None
    if case == "wrong-secret":
        env, want = s3.env(AWS_SECRET_ACCESS_KEY="wrong"), r".*(SignatureDoesNotMatch|403).*"
    elif case == "wrong-key-id":
        env, want = s3.env(AWS_ACCESS_KEY_ID="AKIDNOSUCHKEY"), r".*(InvalidAccessKeyId|403).*"
    elif case == "wrong-token":
        env = s3.env(SESSION_KEY, AWS_SESSION_TOKEN="FwoGZXIvYXdzEXAMPLE//another")
        want = r".*(InvalidToken|403).*"
    elif case == "no-credentials":
        env = {k: v for k, v in s3.env().items()
               if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        env["HOME"] = str(tmp_path)
        want = r"(?i).*credential.*"
    elif case == "404-s3":
        url, env, want = "s3://cores/one/no-such-core", s3.env(), r".*(404|NoSuchKey).*"
    elif case == "404-http":
        url, env, want = f"{servers.web.url}/cores/no-such-core", servers.env("http"), r".*404.*"
    else:
        from debuginfod_server import free_port
        url, env, want = f"http://127.0.0.1:{free_port()}/core", servers.env("http"), r".+"
    t0 = time.monotonic()
    p = refused(url, env)
    one_line_error(p, url, want)
    assert time.monotonic() - t0 <= READ_BOUND + SLACK


@pytest.mark.parametrize("source", ["profile", "session-token"])
def test_other_credentials(servers, cores, source):
    """~/.aws/credentials with AWS_PROFILE (its [default] holds wrong keys); temporary
    credentials with AWS_SESSION_TOKEN (the proxy refuses the key's requests without it)."""
    k = cores["K"]
    env = (servers.s3.profile_env("corefs") if source == "profile"
           else servers.s3.env(SESSION_KEY))
    with rmount(servers.url("s3", "K"), env=env) as m:
        assert bounded(lambda: (m / "maps").read_bytes()) == cat("maps", k.path)
        a = k.addrs["heap"]
        assert bounded(lambda: read_at(m / "mem", a, 64)) == core_bytes(k.path, a, 64)


def cat(path, target, env=None):
    """`corefs --cat PATH TARGET`'s output (it must succeed with an empty stderr)."""
    p = subprocess.run([str(COREFS), "--cat", path, str(target)], capture_output=True, env=env,
                       timeout=HUNG)
    assert p.returncode == 0 and p.stderr == b"", (path, target, p.stderr.decode())
    return p.stdout


@pytest.mark.parametrize("kind", ["http", "s3"])
def test_cat_of_a_remote_core(servers, cores, kind):
    k = cores["K"]
    url, env = servers.url(kind, "K"), servers.env(kind)
    for path in ("maps", "cmdline", f"task/{k.pid}/regs", "modules"):
        assert cat(path, url, env) == cat(path, k.path), path


def test_mount_retries_5xx_at_the_first_request(servers, cores):
    """The first requests of a mount (HEAD, the headers) answered 503: retried, and it mounts."""
    k = cores["K"]
    proxy = servers.s3.proxy
    mark = proxy.mark()
    proxy.fail_next(2, 503, "SlowDown")
    try:
        with rmount(servers.url("s3", "K"), env=servers.env("s3"), quiet=False) as m:
            assert bounded(lambda: (m / "maps").read_bytes()) == cat("maps", k.path)
    finally:
        with proxy._lock:
            proxy._fail.clear()
    assert [r.status for r in proxy.requests()[mark:]][:2] == [503, 503]


@pytest.mark.parametrize("fault", ["503", "500", "cut"])
def test_server_errors_are_retried(servers, cores, fault):
    """5xx answers and responses cut mid-body for the next requests: retried, the read gets the
    core's bytes."""
    k = cores["K"]
    proxy = servers.s3.proxy
    try:
        with rmount(servers.url("s3", "K"), env=servers.env("s3"), quiet=False) as m:
            bounded(lambda: (m / "maps").read_bytes())
            mark = proxy.mark()
            if fault == "503":
                proxy.fail_next(3, 503, "SlowDown")
            elif fault == "500":
                proxy.fail_next(2, 500, "InternalError")
            else:
                proxy.cut_next(2, 0.5)
            a = k.addrs["big"] - 16 * MIB
            got = bounded(lambda: read_at(m / "mem", a, 4096))
            assert got == core_bytes(k.path, a, 4096), short(got)
            reqs = proxy.requests()[mark:]
            bad = [r for r in reqs if r.status >= 500 or (r.range and r.status == 206 and
                                                           r.sent < range_len(r.range))]
            assert len(bad) >= (3 if fault == "503" else 2), reqs
            assert any(r.status == 206 and r.sent == range_len(r.range) for r in reqs), reqs
    finally:
        with proxy._lock:           # nothing injected is left for the next test
            left = (list(proxy._fail), list(proxy._cut))
            proxy._fail.clear()
            proxy._cut.clear()
    assert left == ([], []), f"faults the mount never met: {left}"


def range_len(rng):
    m = re.fullmatch(r"bytes=(\d+)-(\d+)", rng or "")
    return int(m[2]) - int(m[1]) + 1 if m else -1


# --- 4. --cache-dir -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["http", "s3"])
def test_cache_dir_serves_a_second_mount(servers, cores, tmp_path, kind):
    big = cores["B"]
    log = servers.log(kind)
    url, env = servers.url(kind, "B"), servers.env(kind)
    cache = tmp_path / "cache"
    cache.mkdir()
    addrs = [big.addrs["region"] + k * MIB for k in (3, 50, 51, 200)]

    def reads(m):
        return ((m / "maps").read_bytes(),
                {t: (m / "task" / t / "stack").read_bytes() for t in os.listdir(m / "task")},
                [read_at(m / "mem", a, MIB) for a in addrs])
    with rmount(url, f"--cache-dir={cache}", env=env) as m:
        first = bounded(lambda: reads(m))
        quiet(log)      # what was read ahead is in the cache too
    assert any(f.stat().st_blocks for f in cache.rglob("*") if f.is_file()), "nothing in the cache"
    mark = log.mark()
    with rmount(url, f"--cache-dir={cache}", env=env) as m:
        at_mount = log.requests()[mark:]
        mark2 = log.mark()
        second = bounded(lambda: reads(m))
        assert log.requests()[mark2:] == [], "reads of cached blocks made requests"
        assert log.bytes_sent(mark) <= 4096, at_mount
    assert second == first
    assert all(pattern_ok_bytes(d, a) for d, a in zip(second[2], addrs))


def quiet(log, still=1.0, deadline=30):
    """Wait until the server has had no new request for `still` seconds."""
    n, since, end = log.mark(), time.monotonic(), time.monotonic() + deadline
    while time.monotonic() - since < still and time.monotonic() < end:
        time.sleep(0.1)
        if log.mark() != n:
            n, since = log.mark(), time.monotonic()


def pattern_ok_bytes(data, addr):
    """data is the MiB at addr of rm_big's region: each 8 bytes hold their address (checked
    every 512 bytes)."""
    return isinstance(data, bytes) and len(data) == MIB and all(
        struct.unpack_from("<Q", data, i)[0] == addr + i for i in range(0, MIB, 512))


def test_cache_dir_never_serves_an_old_version(servers, cores, k_inverted, tmp_path):
    """A cache filled by one version of the object is not used for the next one."""
    k = cores["K"]
    cache = tmp_path / "cache"
    cache.mkdir()
    url = servers.web.add("versions/core", k.path)
    a = k.addrs["big"]
    with rmount(url, f"--cache-dir={cache}", env=servers.env("http")) as m:
        assert bounded(lambda: read_at(m / "mem", a, 4096)) == core_bytes(k.path, a, 4096)
    servers.web.replace("versions/core", k_inverted)
    with rmount(url, f"--cache-dir={cache}", env=servers.env("http")) as m:
        assert bounded(lambda: read_at(m / "mem", a, 4096)) == core_bytes(k_inverted, a, 4096)


# --- 5. compressed remote cores, revival ---------------------------------------------------------------

def test_compressed_core_over_s3(servers, cores):
    """The tree of rv_crash's core compressed with zstd and named systemd's way, over S3, is
    the local compressed core's; mem at the planted addresses is the uncompressed core's bytes."""
    kz, k = cores["KZ"], cores["K"]
    url = servers.url("s3", "KZ")
    with mounted(kz) as local, rmount(url, env=servers.env("s3"), quiet=False) as m:
        bounded(lambda: assert_same_tree(m, local, k, servers.last_modified("s3", "KZ"),
                                         tuple(k.addrs.values())), what="the tree")
        j = remote_json(m)
        assert j["compressed"] == {"codec": "zstd", "size": kz.stat().st_size}
        assert j["remote"]["size"] == kz.stat().st_size
    for line in m.stderr.splitlines():      # progress lines (one per 64 MiB read), no error
        assert line.startswith("corefs: ") and not re.search(r"(?i)error|fail", line), m.stderr


def new_copies(d, before, size):
    """Files of directory d not in before, of the given size (a copy of the core)."""
    out = []
    for name in set(os.listdir(d)) - before:
        try:
            if os.stat(os.path.join(d, name)).st_size == size:
                out.append(name)
        except OSError:
            pass
    return out


@pytest.mark.parametrize("kind", ["http", "s3"])
def test_revival_of_a_remote_core(servers, cores, kind):
    """gdb attached to the process revived from the remote core sees what gdb sees in the local
    core: threads, registers, backtraces, and memory at rv_crash's planted addresses; the copy it
    was downloaded to is not left in /var/tmp."""
    k = cores["K"]
    addrs = sorted(k.addrs.values())
    core_view = gdb_view([str(k.exe), str(k.path)], addrs)
    var_tmp = set(os.listdir("/var/tmp"))
    log = servers.log(kind)
    mark = log.mark()
    with rmount(servers.url(kind, "K"), env=servers.env(kind), quiet=False) as m:
        with revived(m.path) as ctl:
            pid = int(ctl["pid"][0])
            live = gdb_view(["-p", str(pid)], addrs)
            assert_same_threads_and_registers(core_view, live, ctl, gcore=False)
            assert core_view.mem == live.mem and len(live.mem) == 2 * len(addrs)
            assert new_copies("/var/tmp", var_tmp, k.size) == [], "the download has a name"
    assert log.bytes_sent(mark) > 0
    assert new_copies("/var/tmp", var_tmp, k.size) == []


# --- 6. a prefix is a /proc of dead processes ------------------------------------------------------------

def test_prefix_is_a_proc_of_dead_processes(servers, cores, tmp_path):
    s3 = servers.s3
    k, g, a, az = cores["K"], cores["G"], cores["A"], cores["AZ"]
    names = {f"core.{k.pid}": k.path, f"gcore.{g.pid}": g.path, az.name: az}
    assert len({k.pid, g.pid, a.pid}) == 3
    local = tmp_path / "host1"
    local.mkdir()
    for name, src in names.items():
        s3.put("cores", f"host1/{name}", src)
        shutil.copy2(src, local / name)
    s3.put("cores", "host1-not/core.elsewhere", k.path)      # not under the prefix "host1/"
    pids = sorted([k.pid, g.pid, a.pid])
    assert cores["A2"].pid not in pids
    proxy = s3.proxy
    mark = proxy.mark()
    systemd = f"/cores/host1/{az.name}"
    with mounted(local) as here, rmount("s3://cores/host1/", env=s3.env(), quiet=False) as m:
        listing = bounded(lambda: os.listdir(m.path))
        assert sorted(int(n) for n in listing if n.isdigit()) == pids
        assert sorted(listing) == sorted(os.listdir(here))
        assert sorted(bounded(lambda: os.listdir(m / "by-name"))) == sorted(names)
        reqs = proxy.requests()[mark:]
        assert any(r.method == "GET" and "list-type=2" in r.query for r in reqs), reqs
        assert not [r for r in reqs if r.path == systemd], \
            f"the systemd-named core was fetched before anything under it was read: {reqs}"
        for pid in pids:
            got = bounded(lambda: (m / str(pid) / "status").read_bytes())
            want = (here / str(pid) / "status").read_bytes()
            # resident memory counts differ as assert_same_tree says; the rest is equal
            mine, _, rss = split_counts({"status": ("file", len(got), got)})
            theirs, _, local_rss = split_counts({"status": ("file", len(want), want)})
            assert mine == theirs, (pid, first_difference(mine["status"], theirs["status"]))
            assert all(rss[key] >= n for key, n in local_rss.items()), (pid, rss, local_rss)
            assert bounded(lambda: (m / str(pid) / "maps").read_bytes()) == \
                (here / str(pid) / "maps").read_bytes()
        reqs = proxy.requests()[mark:]
        assert [r for r in reqs if r.path == systemd and r.method == "GET"], \
            "reading its status fetched the systemd-named core (the log names its path)"
        assert cat(f"{a.pid}/cmdline", "s3://cores/host1/", s3.env()) == cat("cmdline", a.path)
        # listed again while mounted (README: every 10 s): a new core comes, a deleted one goes
        a2 = cores["A2"]
        s3.put("cores", f"host1/core.{a2.pid}", a2.path)
        wait_until(lambda: str(a2.pid) in os.listdir(m.path), "a core put under the prefix", 30)
        assert bounded(lambda: (m / str(a2.pid) / "cmdline").read_bytes()) == \
            cat("cmdline", a2.path)
        s3.delete("cores", f"host1/core.{a2.pid}")
        wait_until(lambda: str(a2.pid) not in os.listdir(m.path), "a deleted core goes", 30)
    # the mount left nothing written in the bucket
    assert sorted(s3.list("cores", "host1/")) == sorted(f"host1/{n}" for n in names)
