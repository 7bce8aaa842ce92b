"""Servers of files by build-id for tests/test_debuginfod.py and tests/bench/bench_debuginfod.py,
started on 127.0.0.1 by the test and stopped at its end: Debian's own `debuginfod` (it indexes a
directory of ELF files, executables and separate debug files alike, as a distribution's server
does), and nginx serving a directory laid out as debuginfod's protocol names the files
(/buildid/HEX/executable, /buildid/HEX/debuginfo), for what a real debuginfod cannot be made to
do: serve slowly, serve the wrong file.  Both log every request, so a test can count what was
asked for.

Also the environment every process of these tests runs in: the DEBUGINFOD_* variables of the
test's own environment are dropped and only the ones given are set, so no run depends on the
machine's configuration (Debian sets DEBUGINFOD_URLS in login shells) or on the user's cache.
"""
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port():
    """A TCP port nothing listens on now (the kernel's pick for a bind to port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(urls=None, cache=None, **more):
    """os.environ without any DEBUGINFOD_* variable, with LC_ALL=C, then DEBUGINFOD_URLS=urls and
    DEBUGINFOD_CACHE_PATH=cache when given, then more (DEBUGINFOD_TIMEOUT="2", ...)."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("DEBUGINFOD_")}
    out["LC_ALL"] = "C"
    if urls is not None:
        out["DEBUGINFOD_URLS"] = urls
    if cache is not None:
        out["DEBUGINFOD_CACHE_PATH"] = str(cache)
    out.update({k: str(v) for k, v in more.items()})
    return out


def build_id(path):
    """The GNU build-id of an ELF file, as eu-readelf -n prints it; None without one."""
    p = subprocess.run(["eu-readelf", "-n", str(path)], capture_output=True, text=True,
                       env=env())
    m = re.search(r"Build ID: ([0-9a-f]+)", p.stdout)
    return m[1] if m else None


def http_status(url, timeout=5):
    """The HTTP status of a GET (0 when nothing answers); reads no more than the headers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return 0


def _wait(cond, what, proc, log, deadline=30.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if cond():
            return
        if proc.poll() is not None:
            raise AssertionError(f"{what}: the server exited ({proc.returncode}): "
                                 f"{pathlib.Path(log).read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    raise AssertionError(f"not within {deadline}s: {what}")


class Server:
    """What the test servers share (these two, and remote_servers.HttpServer): a process, a URL,
    stop() at the end of a with block."""

    proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def requests(self, build_id=None, kind=None):
        """[(build-id, kind, status, bytes sent)] of the /buildid/ requests made by anything but
        this module's own polling, in order; those of one build-id and kind when given."""
        out = []
        for r in self._requests():
            if (build_id is None or r[0] == build_id) and (kind is None or r[1] == kind):
                out.append(r)
        return out


class Debuginfod(Server):
    """`debuginfod -F` over a directory of copies of the given files (executables and debug files;
    debuginfod tells them apart by their sections), on a free port of 127.0.0.1, with -v so each
    request is logged with its user agent (libdebuginfod's, or this module's "corefstest")."""

    def __init__(self, workdir, files, port=None):
        self.dir = pathlib.Path(workdir)
        self.bin = self.dir / "binaries"
        self.bin.mkdir(parents=True, exist_ok=True)
        for name, src in files.items():
            shutil.copyfile(src, self.bin / name)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.dir / "debuginfod.log"
        self.start()

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["debuginfod", "-F", "-v", "-p", str(self.port), "-d", str(self.dir / "db.sqlite"),
                 str(self.bin)], stdout=log, stderr=log, env=env())

    def wait_for(self, build_id, kind="executable"):
        """Until the server answers 200 for the file (indexing takes a moment after start)."""
        _wait(lambda: self.status(build_id, kind) == 200, f"{self.url} serving {build_id}/{kind}",
              self.proc, self.log)

    def status(self, build_id, kind="executable"):
        req = urllib.request.Request(f"{self.url}/buildid/{build_id}/{kind}",
                                     headers={"User-Agent": "corefstest"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (urllib.error.URLError, OSError):
            return 0

    LINE = re.compile(r"UA:(.*?) XFF:.*GET /buildid/([0-9a-f]+)/(\w+) (\d+) (\d+)")

    def _requests(self):
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            m = self.LINE.search(line)
            if m and not m[1].startswith("corefstest"):
                out.append((m[2], m[3], int(m[4]), int(m[5])))
        return out


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    log_format requests '$request_uri $status $body_bytes_sent $http_user_agent';
    access_log {d}/access.log requests;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        {rate}
    }}
}}
"""


class Nginx(Server):
    """nginx serving layout {(build-id, kind): file} as /buildid/HEX/KIND, each response sent at
    rate bytes a second when rate is given (nginx's limit_rate), on a free port of 127.0.0.1.
    Its access log holds each request's path, status and the bytes it sent; a line is written
    when the request ends (a client that gives up ends it early: fewer bytes than the file)."""

    def __init__(self, workdir, layout, rate=None):
        self.dir = pathlib.Path(workdir)
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        www = self.dir / "www"
        for (bid, kind), src in layout.items():
            dst = www / "buildid" / bid / kind
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        www.mkdir(exist_ok=True)
        (www / "ready").write_text("ready\n")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.dir / "error.log"
        conf = self.dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(d=self.dir, port=self.port,
                                          rate=f"limit_rate {rate};" if rate else ""))
        self.proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=env())
        _wait(lambda: http_status(f"{self.url}/ready") == 200, f"nginx at {self.url}", self.proc,
              self.log)

    LINE = re.compile(r"^/buildid/([0-9a-f]+)/(\w+) (\d+) (\d+)")

    def _requests(self):
        path = self.dir / "access.log"
        if not path.exists():
            return []
        out = []
        for line in path.read_text(errors="replace").splitlines():
            m = self.LINE.match(line)
            if m:
                out.append((m[1], m[2], int(m[3]), int(m[4])))
        return out
