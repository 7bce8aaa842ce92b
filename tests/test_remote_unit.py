"""formats/remote.c on its own (issue 13), through tests/tools/remote_tool.c, against the servers of
tests/remote_servers.py: nginx for http://, s3rver behind the Signature V4 verifying proxy for
s3:// (AWS_ENDPOINT_URL pointing at the proxy).

What a read returns is checked against the local file; what it cost, against the servers' own
logs (each GET's Range and the body bytes sent), not only remote_stats: one request a block, no
duplicate for readers of one block, readahead on sequential reads only, the LRU bound, the disk
cache serving a second process.  Then the faults: an object replaced under us, a server killed
in the middle of a body or hanging, 5xx answers, wrong credentials, missing objects; then the
listing of a prefix and the ways credentials are found (session token, ~/.aws/credentials).

The tool is built here (plain, ASan+UBSan, TSan); the hammer test runs all three.
"""
import email.utils
import http.server
import os
import pathlib
import re
import shutil
import subprocess
import threading
import time

import pytest

import remote_servers as rs

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
SRC = [ROOT / "tests" / "tools" / "remote_tool.c", ROOT / "formats" / "remote.c"]
KiB, MiB = 1 << 10, 1 << 20
BLOCK = 64 * KiB                # the tests' block size: many blocks in a small object
SIZE = 3 * MiB + 12345          # the object: a last block that is partial
SESSION_KEY = "ASIAEXAMPLESESSION01"
SESSION = ("sessionSecretExample/abc+def", "FwoGZXIvYXdzEXAMPLE//token+with/odd=chars")
# Keys that need escaping in a URL's path, in a query and in XML.
ODD_KEYS = ["list/a&b.core", 'list/quote"s', "list/<angle>", "list/space key+plus=",
            "list/unicod\u00e9", "list/pct%20x", "list/semi;colon,comma", "list/apos'",
            "list/hash#?question"]

pytestmark = pytest.mark.skipif(not shutil.which("pkg-config") or subprocess.run(
    ["pkg-config", "--exists", "libcurl"]).returncode != 0,
    reason="libcurl's headers are missing: apt-get install libcurl4-openssl-dev")


def _build(out, extra):
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libcurl"], capture_output=True,
                           text=True, check=True).stdout.split()
    cmd = ["cc", "-std=gnu11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-g", *extra,
           "-o", str(out), *map(str, SRC), *flags, "-lpthread"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="session")
def tools():
    """{"plain", "asan", "tsan"}: remote_tool built three ways (in parallel)."""
    BUILD.mkdir(exist_ok=True)
    out = {"plain": BUILD / "remote_tool", "asan": BUILD / "remote_tool_asan",
           "tsan": BUILD / "remote_tool_tsan"}
    procs = {"plain": _build(out["plain"], ["-O2"]),
             "asan": _build(out["asan"], ["-O1", "-fsanitize=address,undefined",
                                          "-fno-sanitize-recover=undefined",
                                          "-fno-omit-frame-pointer"]),
             "tsan": _build(out["tsan"], ["-O1", "-fsanitize=thread"])}
    for name, p in procs.items():
        text = p.communicate()[0]
        assert p.returncode == 0, f"building remote_tool ({name}) failed:\n{text}"
    return out


@pytest.fixture(scope="session")
def tool(tools):
    return tools["plain"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "core.1"
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture(scope="module")
def web(tmp_path_factory, data):
    with rs.HttpServer(tmp_path_factory.mktemp("web"), {"cores/core.1": data}) as w:
        w.object = f"{w.url}/cores/core.1"
        yield w


@pytest.fixture(scope="module")
def s3(tmp_path_factory, data):
    keys = {rs.KEY_ID: (rs.SECRET, None), SESSION_KEY: SESSION}
    with rs.S3Server(tmp_path_factory.mktemp("s3"), buckets=("cores",), keys=keys) as s:
        s.etags = {"host1/core.1": s.put("cores", "host1/core.1", data)}
        s.object = "s3://cores/host1/core.1"
        yield s


def run(tool, *args, env=None, timeout=60, **opts):
    """remote_tool ARGS with REMOTE_TOOL_* options (block=, mem=, cache=, timeout=, max_keys=)."""
    env = dict(env or os.environ)
    env.setdefault("REMOTE_TOOL_BLOCK", str(BLOCK))
    for k, v in opts.items():
        env[f"REMOTE_TOOL_{k.upper()}"] = str(v)
    return subprocess.run([str(tool), *map(str, args)], capture_output=True, env=env,
                          timeout=timeout)


def stats_of(stdout):
    return {k: int(v) for k, v in re.findall(r"^(\w+) (\d+)$", stdout.decode(), re.M)}


class Repl:
    """remote_tool repl: one process, many reads, the servers changed between them."""

    def __init__(self, tool, url, env=None, **opts):
        env = dict(env or os.environ)
        env.setdefault("REMOTE_TOOL_BLOCK", str(BLOCK))
        for k, v in opts.items():
            env[f"REMOTE_TOOL_{k.upper()}"] = str(v)
        self.p = subprocess.Popen([str(tool), "repl", url], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        line = self.p.stdout.readline()
        assert line.startswith(b"ready "), (line, self.p.stderr.read())

    def ask(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().decode().rstrip("\n")

    def read(self, off, n):
        """(bytes, None) or (None, (seconds, message))."""
        answer = self.ask(f"read {off} {n}")
        kind, rest = answer.split(" ", 1)
        if kind == "ok":
            count, _, hexa = rest.partition(" ")
            return bytes.fromhex(hexa), None
        assert kind == "err", answer
        secs, _, msg = rest.partition(" ")
        return None, (float(secs), msg)

    def close(self):
        self.ask("quit") if self.p.poll() is None else None
        self.p.wait(timeout=30)
        err = self.p.stderr.read().decode()
        assert self.p.returncode == 0 and "Sanitizer" not in err, err


@pytest.fixture(params=["http", "s3"])
def server(request, web, s3):
    """(url, env, server's log reader) of the same object over HTTP and over S3."""
    if request.param == "http":
        return web.object, None, web
    return s3.object, s3.env(), s3.proxy


def gets(log, since):
    """The object's ranged GETs after mark since, as (first, last) byte pairs."""
    out = []
    for r in log.requests()[since:]:
        if r.method == "GET" and r.range and r.status in (200, 206):
            m = re.fullmatch(r"bytes=(\d+)-(\d+)", r.range)
            out.append((int(m[1]), int(m[2])))
    return out


# --- bytes and what they cost ---------------------------------------------------------------------

READS = [(0, 1), (100, 4000), (BLOCK - 10, 20), (5 * BLOCK - 1, 2), (7 * BLOCK, BLOCK),
         (9 * BLOCK + 5, 3 * BLOCK), (SIZE - 5, 5), (SIZE - 100, 1000), (SIZE - BLOCK - 7, BLOCK),
         (SIZE, 10), (20 * BLOCK + 1, 1), (2 * BLOCK + 3, 70000)]


def test_bytes_at_offsets(tool, data, server):
    """Reads at block boundaries, across them, of the last partial block, at and past the end
    equal the file; the server sent each block touched once, and nothing else."""
    url, env, log = server
    want = data.read_bytes()
    mark = log.mark()
    repl = Repl(tool, url, env)
    touched = set()
    for off, n in READS:
        got, err = repl.read(off, n)
        assert err is None and got == want[off:off + n], (off, n, err)
        touched |= {b for b in range(off // BLOCK, (min(off + n, SIZE) - 1) // BLOCK + 1)
                    if off < SIZE}
    got, err = repl.read(SIZE + 1, 10)
    assert got is None and "Invalid argument" in err[1]
    repl.close()
    ranges = gets(log, mark)
    assert sorted(ranges) == sorted((b * BLOCK, min(SIZE, (b + 1) * BLOCK) - 1) for b in touched)
    assert log.bytes_sent(mark) == sum(b - a + 1 for a, b in ranges)


def test_stat(tool, web, s3):
    p = run(tool, "stat", web.object)
    assert p.returncode == 0 and f"size {SIZE}\n".encode() in p.stdout, p.stderr
    etag = re.search(rb"version (.*)\n", p.stdout)[1].decode()
    assert etag.startswith('"') and etag.endswith('"')
    p = run(tool, "stat", s3.object, env=s3.env())
    assert p.returncode == 0 and f"size {SIZE}\nversion {s3.etags['host1/core.1']}\n".encode() \
        in p.stdout, (p.stdout, p.stderr)
    assert abs(int(re.search(rb"mtime (\d+)", p.stdout)[1]) - time.time()) < 3600


def test_one_request_for_readers_of_one_block(tool, s3):
    """Sixteen threads read one block at the same moment, the server slow to answer: one GET."""
    mark = s3.proxy.mark()
    s3.proxy.delay = 0.3
    try:
        p = run(tool, "herd", s3.object, 16, 3 * BLOCK + 7, 1000, env=s3.env())
    finally:
        s3.proxy.delay = 0.0
    assert p.returncode == 0, p.stderr
    assert gets(s3.proxy, mark) == [(3 * BLOCK, 4 * BLOCK - 1)]
    st = stats_of(p.stdout)
    assert st["misses"] == 1 and st["hits"] == 15 and st["requests"] == 2, p.stdout


def test_blocks_of_one_read_in_parallel(tool, s3, data):
    """One read of six blocks, each request answered after 0.5 s: the blocks after the first are
    fetched by the workers while the reader fetches the first, not one after another (3.5 s)."""
    mark = s3.proxy.mark()
    s3.proxy.delay = 0.5
    try:
        t = time.monotonic()
        p = run(tool, "cat", s3.object, 30 * BLOCK + 1, 6 * BLOCK - 2, env=s3.env())
        elapsed = time.monotonic() - t
    finally:
        s3.proxy.delay = 0.0
    assert p.returncode == 0 and p.stdout == data.read_bytes()[30 * BLOCK + 1:36 * BLOCK - 1]
    assert sorted(a // BLOCK for a, _ in gets(s3.proxy, mark)) == list(range(30, 36))
    assert elapsed < 2.5, elapsed


def test_readahead_on_sequential_reads(tool, web):
    """Reading on from where the last read ended fetches the next blocks in the background
    (as many as READAHEAD, 4); random reads fetch only what they touch (test_bytes_at_offsets)."""
    mark = web.mark()
    repl = Repl(tool, web.object)
    for i in range(4):                  # 32 KiB reads: blocks 0 and 1
        assert repl.read(i * 32 * KiB, 32 * KiB)[1] is None
    end = time.monotonic() + 10
    while time.monotonic() < end and len(gets(web, mark)) < 6:
        time.sleep(0.05)
    blocks = sorted(a // BLOCK for a, _ in gets(web, mark))
    assert blocks == [0, 1, 2, 3, 4, 5], blocks
    hits = repl.ask("stats").split()
    assert int(hits[3]) >= 2            # the second and later reads of block 0, and block 1
    repl.close()


def test_readahead_across_a_fork(tool, s3, data):
    """A daemon forks after its first reads (corefs reads headers, then fuse_daemonize): the
    readahead threads do not survive it, and the blocks they were fetching are fetched again by
    the child, not waited for until the deadline."""
    want = data.read_bytes()
    repl = Repl(tool, s3.object, s3.env(), timeout=5)
    s3.proxy.delay = 0.5
    try:
        assert repl.read(40 * BLOCK, 100)[1] is None
        assert repl.read(40 * BLOCK + 100, 100)[1] is None      # queues blocks 41-44
        assert repl.ask("fork") == "forked"
        t = time.monotonic()
        for b in range(41, 45):
            got, err = repl.read(b * BLOCK + 5, 10)
            assert got == want[b * BLOCK + 5:b * BLOCK + 15], err
        assert time.monotonic() - t < 4
    finally:
        s3.proxy.delay = 0.0
    repl.close()


def test_lru_bound(tool, web):
    """With room for two blocks, a third read drops the least recently used: reading it again
    is a request again; with room enough, it is not."""
    reads = [0, 20, 5 * BLOCK, 40, 10 * BLOCK, 60, 15 * BLOCK, 5 * BLOCK + 1, 80]   # no read
    # starts where the one before ended: no readahead
    args = [x for off in reads for x in (off, 10)]
    mark = web.mark()
    p = run(tool, "stats", web.object, *args, mem=2 * BLOCK)
    assert p.returncode == 0, p.stderr
    blocks = [a // BLOCK for a, _ in gets(web, mark)]
    # 0, 5, 10 (drops 5: 0 was used since), 15 (drops 0), 5 again, 0 again
    assert blocks == [0, 5, 10, 15, 5, 0], blocks
    mark = web.mark()
    p = run(tool, "stats", web.object, *args, mem=16 * BLOCK)
    assert [a // BLOCK for a, _ in gets(web, mark)] == [0, 5, 10, 15]


def test_disk_cache_serves_a_second_process(tool, s3, tmp_path):
    """Blocks fetched by one process are read from cache_dir by the next: no GET, only the HEAD
    that pins the version; the cache holds a sparse data file and its index."""
    cache = tmp_path / "cache"
    args = [0, 100, 7 * BLOCK + 3, 2 * BLOCK, SIZE - 10, 10]
    mark = s3.proxy.mark()
    first = run(tool, "stats", s3.object, *args, env=s3.env(), cache_dir=cache)
    assert first.returncode == 0, first.stderr
    assert len(gets(s3.proxy, mark)) == 5
    mark = s3.proxy.mark()
    second = run(tool, "stats", s3.object, *args, env=s3.env(), cache_dir=cache)
    assert second.returncode == 0, second.stderr
    assert [r.method for r in s3.proxy.requests()[mark:]] == ["HEAD"]
    st = stats_of(second.stdout)
    assert st["disk_hits"] == 5 and st["bytes"] == 0 and st["requests"] == 1
    files = sorted(p.suffix for p in cache.iterdir())
    assert files == [".data", ".map"]
    data_file = next(cache.glob("*.data"))
    assert data_file.stat().st_blocks * 512 < 8 * BLOCK     # sparse: only what was fetched
    p = run(tool, "cat", s3.object, 7 * BLOCK + 3, 2 * BLOCK, env=s3.env(), cache_dir=cache)
    assert p.stdout == s3_bytes(s3)[7 * BLOCK + 3:9 * BLOCK + 3]


def s3_bytes(s3):
    return s3.get("cores", "host1/core.1")[2]


def test_download(tool, server, data):
    """remote_download: the whole object, in order, with progress lines when asked."""
    url, env, log = server
    mark = log.mark()
    p = run(tool, "download", url, env=env, progress=1)
    assert p.returncode == 0 and p.stdout == data.read_bytes(), p.stderr
    assert re.search(rf"corefs: {re.escape(url)}: {SIZE} of {SIZE} bytes \(\d+\.\d s\)\n$",
                     p.stderr.decode()), p.stderr
    assert log.bytes_sent(mark) == SIZE


# --- faults ---------------------------------------------------------------------------------------

def test_replaced_object_http(tool, web, data, tmp_path):
    """nginx's object replaced under a reader: the next fetch is refused (If-Match, 412), that read
    and every later one fail with EIO, and the problem names the URL and the change."""
    web.add("cores/replaced", data)
    url = f"{web.url}/cores/replaced"
    repl = Repl(tool, url)
    assert repl.read(0, 100)[0] == data.read_bytes()[:100]
    web.replace("cores/replaced", os.urandom(SIZE))
    got, err = repl.read(5 * BLOCK, 100)
    assert got is None and "Input/output error" in err[1]
    problem = repl.ask("problem")
    assert problem.startswith(f"problem {url} changed since it was opened"), problem
    assert repl.read(0, 100)[0] is None         # cached, but the object is not the one pinned
    repl.close()


def test_replaced_object_s3(tool, s3, data):
    s3.put("cores", "tmp/replaced", data)
    url = "s3://cores/tmp/replaced"
    repl = Repl(tool, url, s3.env())
    assert repl.read(BLOCK, 10)[0] == data.read_bytes()[BLOCK:BLOCK + 10]
    mark = s3.proxy.mark()
    s3.replace("cores", "tmp/replaced", data.read_bytes()[:SIZE // 2])
    got, err = repl.read(9 * BLOCK, 10)
    assert got is None
    assert [r.status for r in s3.proxy.requests()[mark:]] == [412]
    assert "changed since it was opened" in repl.ask("problem")
    repl.close()


def test_server_killed_mid_body(tool, s3, data):
    """The proxy dies halfway through a block's body: the read fails with EIO within the bound
    (REMOTE_TOOL_TIMEOUT=3, retries included), never hangs; after a restart reads work again."""
    repl = Repl(tool, s3.object, s3.env(), timeout=3)
    s3.proxy.kill_mid_body(0.5)
    try:
        got, err = repl.read(11 * BLOCK, 100)
        assert got is None and 2.5 <= err[0] <= 4.5, err
    finally:
        s3.proxy.restart()
    assert repl.read(11 * BLOCK, 100)[0] == data.read_bytes()[11 * BLOCK:11 * BLOCK + 100]
    repl.close()


def test_server_hangs(tool, s3, data):
    """A server that takes requests and never answers: EIO within the bound; then it answers."""
    repl = Repl(tool, s3.object, s3.env(), timeout=2)
    s3.proxy.pause()
    try:
        got, err = repl.read(13 * BLOCK, 100)
        assert got is None and 1.5 <= err[0] <= 3.5, err
    finally:
        s3.proxy.resume()
    assert repl.read(13 * BLOCK, 100)[0] == data.read_bytes()[13 * BLOCK:13 * BLOCK + 100]
    repl.close()


def test_http_server_down_and_back(tool, web, data):
    repl = Repl(tool, web.object, timeout=2)
    web.kill()
    try:
        got, err = repl.read(17 * BLOCK, 10)
        assert got is None and err[0] <= 3.5 and "connect" in err[1], err
    finally:
        web.restart()
    assert repl.read(17 * BLOCK, 10)[0] == data.read_bytes()[17 * BLOCK:17 * BLOCK + 10]
    repl.close()


def test_5xx_retried(tool, s3, data):
    """Two 503 SlowDown answers, then the bytes: the same range asked three times."""
    repl = Repl(tool, s3.object, s3.env())
    mark = s3.proxy.mark()
    s3.proxy.fail_next(2, 503, "SlowDown")
    assert repl.read(19 * BLOCK, 10)[0] == data.read_bytes()[19 * BLOCK:19 * BLOCK + 10]
    repl.close()
    log = [(r.method, r.range, r.status) for r in s3.proxy.requests()[mark:]]
    want = f"bytes={19 * BLOCK}-{20 * BLOCK - 1}"
    assert log == [("GET", want, 503), ("GET", want, 503), ("GET", want, 206)], log
    # at open too
    mark = s3.proxy.mark()
    s3.proxy.fail_next(1, 500, "InternalError")
    assert run(tool, "stat", s3.object, env=s3.env()).returncode == 0
    assert [r.status for r in s3.proxy.requests()[mark:]] == [500, 200]


def one_line_error(p):
    err = p.stderr.decode()
    assert p.returncode == 1 and err.count("\n") == 1, err
    return err.removeprefix("remote_tool: ").rstrip("\n")


def test_errors_at_open(tool, s3, web):
    env = s3.env(AWS_SECRET_ACCESS_KEY="wrong")
    err = one_line_error(run(tool, "stat", s3.object, env=env))
    assert err.startswith(f"{s3.object}: 403 Forbidden (SignatureDoesNotMatch: "), err
    err = one_line_error(run(tool, "stat", "s3://cores/no/such", env=s3.env()))
    assert err.startswith("s3://cores/no/such: 404 Not Found (NoSuchKey"), err
    err = one_line_error(run(tool, "stat", "s3://nobucket/x", env=s3.env()))
    assert err.startswith("s3://nobucket/x: 404 Not Found (NoSuchBucket"), err
    assert one_line_error(run(tool, "stat", f"{web.url}/cores/none")) == \
        f"{web.url}/cores/none: 404 Not Found"
    assert one_line_error(run(tool, "stat", "http://127.0.0.1:1/x")) == \
        "http://127.0.0.1:1/x: Couldn't connect to server"
    env = {k: v for k, v in s3.env().items() if k != "AWS_SECRET_ACCESS_KEY"}
    err = one_line_error(run(tool, "stat", s3.object, env=env))
    assert err.startswith(f"{s3.object}: no AWS credentials"), err
    assert "no bucket" in one_line_error(run(tool, "stat", "s3:///x", env=s3.env()))
    assert "only s3://" in one_line_error(run(tool, "list", web.object))


class OddServer:
    """A small HTTP server of one object whose manners a test chooses, for what nginx and S3 do
    not do: no ETag (Last-Modified pins the version), HEAD refused (405), no Range support
    (200 and the whole body), a Content-Range that is not what was asked for.  It honours
    If-Match and If-Unmodified-Since (412) and logs (method, Range, status)."""

    def __init__(self, data, etag=True, head=True, ranges=True, lie=None):
        self.data, self.etag, self.head, self.ranges, self.lie = data, etag, head, ranges, lie
        self.mtime = int(time.time()) - 100
        self.log = []
        odd = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.answer(body=False)

            def do_GET(self):
                self.answer(body=True)

            def answer(self, body):
                rng = self.headers.get("Range")
                status, data, headers = odd.respond(self.command, rng, self.headers)
                odd.log.append((self.command, rng, status))
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass                    # a client that stopped reading a body it refused

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/object"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def replace(self, data):
        self.data, self.mtime = data, self.mtime + 10

    def version(self):
        return f'"v{self.mtime}"'

    def respond(self, method, rng, headers):
        last = email.utils.formatdate(self.mtime, usegmt=True)
        hs = [("Last-Modified", last)] + ([("ETag", self.version())] if self.etag else [])
        if method == "HEAD" and not self.head:
            return 405, b"", []
        want = headers.get("If-Match")
        if want and want != self.version():
            return 412, b"", hs
        since = headers.get("If-Unmodified-Since")
        if since and email.utils.parsedate_to_datetime(since).timestamp() < self.mtime:
            return 412, b"", hs
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", rng or "")
        if method == "HEAD" or not m or not self.ranges:
            return 200, self.data, hs       # a HEAD's body is not sent
        a, b = int(m[1]), min(int(m[2]), len(self.data) - 1)
        start, total = (a, len(self.data)) if self.lie is None else self.lie(a, len(self.data))
        return 206, self.data[a:b + 1], hs + [
            ("Content-Range", f"bytes {start}-{start + b - a}/{total}")]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def odd(data):
    servers = []

    def make(**kw):
        servers.append(OddServer(data.read_bytes(), **kw))
        return servers[-1]
    yield make
    for s in servers:
        s.stop()


def test_last_modified_pins_without_etag(tool, odd, data):
    srv = odd(etag=False)
    repl = Repl(tool, srv.url)
    assert repl.read(0, 10)[0] == data.read_bytes()[:10]
    srv.replace(os.urandom(SIZE))
    got, err = repl.read(4 * BLOCK, 10)
    assert got is None and srv.log[-1] == ("GET", f"bytes={4 * BLOCK}-{5 * BLOCK - 1}", 412)
    assert "changed since it was opened" in repl.ask("problem")
    repl.close()
    p = run(tool, "stat", srv.url)
    assert p.stdout.decode().startswith(f"size {SIZE}\nversion "
                                         f"{email.utils.formatdate(srv.mtime, usegmt=True)}\n")


def test_head_refused(tool, odd, data):
    """A server that refuses HEAD: the size comes from a GET of byte 0's Content-Range."""
    srv = odd(head=False)
    p = run(tool, "cat", srv.url, SIZE - 3, 10)
    assert p.returncode == 0 and p.stdout == data.read_bytes()[-3:], p.stderr
    assert srv.log[:2] == [("HEAD", None, 405), ("GET", "bytes=0-0", 206)]


def test_no_range_support(tool, odd):
    """A server that answers a range with the whole object: an error, never its bytes taken."""
    err = one_line_error(run(tool, "stat", odd(head=False, ranges=False).url))
    assert err.endswith(": the server does not answer Range requests"), err
    srv = odd(ranges=False)
    p = run(tool, "cat", srv.url, BLOCK, 10)
    assert p.returncode == 1 and p.stdout == b""
    assert "no Range support" in p.stderr.decode()


def test_content_range_checked(tool, odd):
    """A 206 whose Content-Range is not the range asked for is never used; one whose total is
    not the pinned size means the object changed."""
    srv = odd(lie=lambda a, total: (a + 1, total))
    p = run(tool, "cat", srv.url, BLOCK, 10)
    assert p.returncode == 1 and p.stdout == b"" and "got Content-Range" in p.stderr.decode()
    srv = odd(lie=lambda a, total: (a, total + 1))
    repl = Repl(tool, srv.url)
    assert repl.read(BLOCK, 10)[0] is None
    assert f"its size was {SIZE}, now {SIZE + 1}" in repl.ask("problem")
    repl.close()


# --- listing and credentials ----------------------------------------------------------------------

def test_list_prefix(tool, s3):
    """Every key under a prefix, each page of ListObjectsV2 (two keys a page here), keys that need
    escaping in the URL, the query and the XML coming back whole; their sizes and ETags."""
    want = {}
    for i, key in enumerate(ODD_KEYS):
        body = f"object {i} {key}".encode()
        want[f"s3://cores/{key}"] = (len(body), s3.put("cores", key, body))
    s3.put("cores", "lister/not-under-prefix", b"x")
    for max_keys in (0, 2):
        p = run(tool, "list", "s3://cores/list/", env=s3.env(), max_keys=max_keys)
        assert p.returncode == 0, p.stderr
        got = {}
        for line in p.stdout.decode().splitlines():
            size, etag, mtime, url = line.split("\t", 3)
            got[url] = (int(size), etag)
            assert abs(int(mtime) - time.time()) < 3600
        assert got == want
    p = run(tool, "list", "s3://cores/list/space key", env=s3.env())
    assert p.stdout.decode().split("\t")[3] == "s3://cores/list/space key+plus=\n"
    # each listed URL opens and reads as what was put
    for i, key in enumerate(ODD_KEYS):
        p = run(tool, "cat", f"s3://cores/{key}", 0, 1000, env=s3.env())
        assert p.stdout == f"object {i} {key}".encode(), (key, p.stderr)


def test_session_token(tool, s3, data):
    env = s3.env(key_id=SESSION_KEY)
    assert env["AWS_SESSION_TOKEN"] == SESSION[1]
    mark = s3.proxy.mark()
    p = run(tool, "cat", s3.object, 5, 10, env=env)
    assert p.returncode == 0 and p.stdout == data.read_bytes()[5:15], p.stderr
    assert [r.status for r in s3.proxy.requests()[mark:]] == [200, 206]
    err = one_line_error(run(tool, "stat", s3.object, env={**env, "AWS_SESSION_TOKEN": "other"}))
    assert err.startswith(f"{s3.object}: 403 Forbidden (InvalidToken"), err


def test_profile_from_aws_credentials(tool, s3, data):
    """Credentials only in HOME/.aws/credentials, under AWS_PROFILE (its [default] is wrong)."""
    env = s3.profile_env()
    assert "AWS_ACCESS_KEY_ID" not in env
    p = run(tool, "cat", s3.object, 1000, 10, env=env)
    assert p.returncode == 0 and p.stdout == data.read_bytes()[1000:1010], p.stderr
    err = one_line_error(run(tool, "stat", s3.object, env={**env, "AWS_PROFILE": "default"}))
    assert "403 Forbidden (InvalidAccessKeyId" in err, err
    env = s3.profile_env(profile="tokened", key_id=SESSION_KEY)
    p = run(tool, "cat", s3.object, 0, 10, env=env)
    assert p.returncode == 0 and p.stdout == data.read_bytes()[:10], p.stderr


# --- threads --------------------------------------------------------------------------------------

@pytest.mark.parametrize("build", ["plain", "asan", "tsan"])
def test_hammer(tools, web, data, build):
    """Eight threads of random reads (a third across block boundaries), a memory bound of eight
    blocks so blocks come and go, readahead when reads happen to follow: every byte right, and
    no sanitizer report."""
    env = {**os.environ, "REMOTE_TOOL_LOCAL": str(data),
           "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=66",
           "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=66",
           "TSAN_OPTIONS": "halt_on_error=1:exitcode=66"}
    p = run(tools[build], "hammer", web.object, 8, 60 if build == "tsan" else 150, env=env,
            mem=8 * BLOCK, timeout=120)
    assert p.returncode == 0, p.stderr.decode()[-4000:]
    st = stats_of(p.stdout)
    assert st["misses"] > 0 and st["hits"] > 0
