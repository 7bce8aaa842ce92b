"""Servers of cores over HTTP and S3 for the remote-source tests (issue 13), started on 127.0.0.1
by the test and stopped at its end, and an AWS Signature Version 4 verifier independent of curl:

* `HttpServer`: Debian's nginx serving a directory, with Range (nginx does it for static files),
  ETag and Last-Modified; its access log holds each request's method, path, Range header,
  status and the body bytes it sent, so a test can sum what a mount fetched.
* `S3Server`: the npm package s3rver (installed under build/npm on first use) serving the S3 API
  (buckets, Range, ListObjectsV2, ETags) from a temporary directory, fronted by
* `SigV4Proxy`: a threaded reverse proxy that recomputes every request's Signature V4 by AWS's
  documented algorithm (`verify`) and refuses, with S3's XML error, any that does not match.
  s3rver itself accepts any V4 signature (its check is unimplemented; only the access key id is
  looked up), so the proxy is what makes a signing bug fail a test.  It also answers
  `If-Match` (412) and suffix ranges, which s3rver does not, logs every request, and holds the
  fault hooks: kill, restart, a delay per request, 5xx for the next N requests, a response cut
  in the middle of its body.

The signer (`sign_headers`) is this module's own, from the same functions as the verifier; it is
what uploads objects and what the tests use to make good and bad requests.  The verifier is
checked against AWS's published vectors in tests/test_remote_servers.py.

Use:

    with S3Server(tmp_path / "s3", buckets=("cores",)) as s3:
        s3.put("cores", "host1/core.1234", core_path)         # signed, through the verifier
        env = s3.env()      # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
                            # AWS_ENDPOINT_URL=http://127.0.0.1:PORT (the proxy's), no ~/.aws
        mark = s3.proxy.mark()
        ... corefs s3://cores/host1/core.1234 MNT, run with env ...
        sent = s3.proxy.bytes_sent(mark)                     # body bytes the mount fetched
        s3.proxy.requests()[mark:]                           # [Request(method, path, ... status)]
        s3.proxy.kill(); s3.proxy.restart(); s3.replace("cores", "host1/core.1234", other)

    with HttpServer(tmp_path / "web", {"cores/core.1234": core_path}) as web:
        url = f"{web.url}/cores/core.1234"; web.bytes_sent(); web.kill(); web.restart()

What curl 7.88 (Debian 12's libcurl, CURLOPT_AWS_SIGV4) does, as tests/test_remote_servers.py
shows: it signs an x-amz-content-sha256 (and x-amz-security-token) header given to it, and adds
none of its own; it signs the URL's path and query as given, without sorting the query or
URI-encoding either, so a client must send the query sorted and encoded (prefix=a%2F) and a key
encoded as uri_encode(key, keep_slash=True) does, or S3 answers SignatureDoesNotMatch.
"""
import collections
import datetime
import fcntl
import hashlib
import hmac
import http.client
import http.server
import json
import os
import pathlib
import re
import select
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape

from debuginfod_server import Server, free_port

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
NPM_PREFIX = PROJECT_ROOT / "build" / "npm"
S3RVER_SPEC = "s3rver@3"

# Credentials the servers accept by default.  AWS's documentation example key pair: nothing real.
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
OWN_AGENT = "corefstest"        # this module's own requests; left out of requests() by default

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = 15 * 60              # seconds, as S3 allows


# --- Signature Version 4, as AWS documents it -----------------------------------------------------
# "Create a canonical request", "Create a string to sign", "Calculate the signature" of AWS's
# Signature Version 4 documentation, with S3's rules for the canonical URI: each path segment
# URI-encoded once, no normalisation.

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def uri_encode(s, keep_slash=False):
    """AWS's UriEncode: every byte but A-Z a-z 0-9 - _ . ~ (and / when keep_slash) as %XX."""
    if isinstance(s, str):
        s = s.encode()
    return "".join(chr(b) if b in _UNRESERVED or (keep_slash and b == 0x2F) else f"%{b:02X}"
                   for b in s)


def canonical_uri(raw_path):
    """The canonical URI of a request path as sent (percent-encoded or not): each segment decoded
    and encoded again by uri_encode, as S3 does; "/" for an empty path."""
    return "/".join(uri_encode(urllib.parse.unquote_to_bytes(seg))
                    for seg in (raw_path or "/").split("/"))


def canonical_query(raw_query):
    """The canonical query string: each name and value decoded, URI-encoded, sorted by name then
    value, a name without "=" given an empty value."""
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((uri_encode(urllib.parse.unquote_to_bytes(name)),
                          uri_encode(urllib.parse.unquote_to_bytes(value))))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def canonical_headers(headers, signed):
    """CanonicalHeaders of the signed header names (lowercase, in order): each header's values
    trimmed, runs of spaces made one, several of one name joined by commas."""
    values = collections.defaultdict(list)
    for name, value in headers:
        values[name.lower()].append(re.sub(" +", " ", value.strip()))
    return "".join(f"{name}:{','.join(values[name])}\n" for name in signed)


def canonical_request(method, raw_path, raw_query, headers, signed, payload_hash):
    return "\n".join([method, canonical_uri(raw_path), canonical_query(raw_query),
                      canonical_headers(headers, signed), ";".join(signed), payload_hash])


def signing_key(secret, date, region, service):
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


Signed = collections.namedtuple("Signed", "canonical_request string_to_sign signature")


def signature(secret, amz_date, region, service, creq):
    """The string to sign and the signature of a canonical request."""
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    sts = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(signing_key(secret, amz_date[:8], region, service), sts.encode(),
                   hashlib.sha256).hexdigest()
    return Signed(creq, sts, sig)


def amz_date(t=None):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if t is None else t))


def sign_headers(method, host, raw_path, raw_query="", headers=None, payload_hash=EMPTY_SHA256,
                 key_id=KEY_ID, secret=SECRET, region=REGION, service="s3", token=None,
                 date=None):
    """The headers of a request signed with header authentication: the given ones, Host,
    x-amz-date, x-amz-content-sha256 (S3 only), x-amz-security-token (with a token) and
    Authorization, every one of them signed."""
    out = dict(headers or {})
    out["Host"] = host
    out["X-Amz-Date"] = date or amz_date()
    if service == "s3":
        out["X-Amz-Content-SHA256"] = payload_hash
    if token is not None:
        out["X-Amz-Security-Token"] = token
    signed = sorted(name.lower() for name in out)
    s = signature(secret, out["X-Amz-Date"], region, service,
                  canonical_request(method, raw_path, raw_query, out.items(), signed,
                                    payload_hash))
    scope = f"{out['X-Amz-Date'][:8]}/{region}/{service}/aws4_request"
    out["Authorization"] = (f"{ALGORITHM} Credential={key_id}/{scope}, "
                            f"SignedHeaders={';'.join(signed)}, Signature={s.signature}")
    return out


class Refusal(Exception):
    """Why a request is refused, as S3 says it: HTTP status, error code, message, extra fields."""

    def __init__(self, status, code, message, **extra):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def xml(self):
        fields = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in self.extra.items())
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{self.code}</Code>'
                f"<Message>{escape(self.message)}</Message>{fields}</Error>").encode()


_AUTH = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,"
                   r"\s*Signature=([0-9a-f]{64})\s*$")


def verify(method, target, headers, body_sha256, credentials, region=REGION, service="s3",
           now=None):
    """Check one request's header authentication as S3 does; raise Refusal when it fails.

    target is the request target as sent (path?query), headers the (name, value) pairs as sent,
    body_sha256 the SHA-256 (hex) of the body received, credentials {access key id: (secret,
    session token or None)}.  Return the access key id and the signed header names."""
    hs = [(n.lower(), v) for n, v in headers]
    get = dict(hs).get
    if any(n in ("x-amz-algorithm", "x-amz-signature") for n in _query_names(target)):
        raise Refusal(403, "AccessDenied", "query-string authentication is not accepted here")
    auth = get("authorization")
    if auth is None:
        raise Refusal(403, "AccessDenied", "Anonymous access is not allowed: no Authorization")
    m = _AUTH.match(auth.strip())
    if not m:
        raise Refusal(400, "AuthorizationHeaderMalformed",
                      "The authorization header is malformed", Authorization=auth)
    credential, signed_s, sig = m.groups()
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise Refusal(400, "AuthorizationHeaderMalformed",
                      "the Credential is not KEY/DATE/REGION/SERVICE/aws4_request",
                      Credential=credential)
    key_id, date, cregion, cservice, _ = parts
    if key_id not in credentials:
        raise Refusal(403, "InvalidAccessKeyId",
                      "The AWS Access Key Id you provided does not exist in our records.",
                      AWSAccessKeyId=key_id)
    secret, token = credentials[key_id]
    stamp = get("x-amz-date")
    if stamp is None or not re.fullmatch(r"\d{8}T\d{6}Z", stamp):
        raise Refusal(403, "AccessDenied", "AWS authentication requires a valid x-amz-date")
    t = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    if abs((time.time() if now is None else now) - t) > MAX_SKEW:
        raise Refusal(403, "RequestTimeTooSkewed",
                      "The difference between the request time and the current time is too large.",
                      RequestTime=stamp)
    if date != stamp[:8] or cregion != region or cservice != service:
        raise Refusal(400, "AuthorizationHeaderMalformed",
                      f"the credential scope {date}/{cregion}/{cservice} is not "
                      f"{stamp[:8]}/{region}/{service}", Credential=credential)
    signed = signed_s.split(";")
    if signed != sorted(set(signed)) or any(s != s.lower() for s in signed):
        raise Refusal(400, "AuthorizationHeaderMalformed",
                      "SignedHeaders is not a sorted list of lowercase names",
                      SignedHeaders=signed_s)
    if token is not None and get("x-amz-security-token") != token:
        raise Refusal(403, "InvalidToken", "The provided token is malformed or otherwise invalid.")
    if token is None and get("x-amz-security-token") is not None:
        raise Refusal(403, "InvalidToken", "a session token for credentials that have none")
    present = {n for n, _ in hs}
    must = {"host", "x-amz-date"} | {n for n in present if n.startswith("x-amz-")}
    if service == "s3":
        must.add("x-amz-content-sha256")
    for name in sorted(must):
        if name not in present:
            raise Refusal(403, "InvalidRequest" if name == "x-amz-content-sha256"
                          else "AccessDenied", f"Missing required header for this request: {name}")
        if name not in signed:
            raise Refusal(403, "AccessDenied",
                          f"There were headers present in the request which were not signed: "
                          f"{name}", HeadersNotSigned=name)
    for name in signed:
        if name not in present:
            raise Refusal(403, "SignatureDoesNotMatch", f"the signed header {name} is not sent")
    payload = get("x-amz-content-sha256") or body_sha256    # S3 requires it, others need not
    if payload != UNSIGNED:
        if not re.fullmatch(r"[0-9a-f]{64}", payload):
            raise Refusal(400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD "
                          "or the SHA-256 of the body (STREAMING-* is not supported here)",
                          ArgumentValue=payload)
        if body_sha256 is not None and payload != body_sha256:
            raise Refusal(400, "XAmzContentSHA256Mismatch",
                          "The provided 'x-amz-content-sha256' header does not match what was "
                          "computed.", ClientComputedContentSHA256=payload,
                          S3ComputedContentSHA256=body_sha256)
    path, _, query = target.partition("?")
    s = signature(secret, stamp, region, service,
                  canonical_request(method, path, query, hs, signed, payload))
    if not hmac.compare_digest(s.signature, sig):
        raise Refusal(403, "SignatureDoesNotMatch",
                      "The request signature we calculated does not match the signature you "
                      "provided. Check your key and signing method.", AWSAccessKeyId=key_id,
                      StringToSign=s.string_to_sign, SignatureProvided=sig,
                      CanonicalRequest=s.canonical_request)
    return key_id, signed


def _query_names(target):
    query = target.partition("?")[2]
    return [urllib.parse.unquote(p.partition("=")[0]).lower() for p in query.split("&") if p]


# --- the verifying proxy --------------------------------------------------------------------------

Request = collections.namedtuple("Request", "method path query range status sent code agent")
Request.__doc__ = """One request the proxy answered: the path and query as sent, the Range header
(None without one), the status, the bytes of body sent to the client, the S3 error code of a
refusal or fault (else None) and the User-Agent."""

_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
        "upgrade", "expect"}


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive, as libcurl uses it

    def setup(self):
        super().setup()
        with self.server.proxy._lock:
            self.server.proxy._connections.add(self.connection)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        with self.server.proxy._lock:
            self.server.proxy._connections.discard(self.connection)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except OSError:                # the client went away, or kill() cut the connection
            self.close_connection = True

    def do_GET(self):
        self.server.proxy._serve(self)

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def log_message(self, *args):
        pass


class SigV4Proxy:
    """A reverse proxy on 127.0.0.1:port in front of an S3 server at upstream (host, port) that
    passes on only requests whose Signature V4 `verify` accepts, streaming the responses.

    credentials: {access key id: (secret, session token or None)}.  Fault hooks: kill() and
    restart(), pause() and resume(), `delay` (seconds before each request), `rate` (bytes a second
    of each body, as nginx's limit_rate), fail_next(n, status), cut_next(n, keep),
    kill_mid_body(keep).
    log: a file that gets one line per request (requests() reads the same from memory)."""

    def __init__(self, upstream, credentials, region=REGION, port=None, log=None):
        self.upstream = upstream
        self.credentials = credentials
        self.region = region
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = pathlib.Path(log) if log else None
        self.delay = 0.0
        self.rate = None               # bytes a second of each response body, when set
        self._lock = threading.Lock()
        self._life = threading.Lock()  # kill() and start() one at a time
        self._requests = []
        self._inflight = 0             # requests read and not yet logged
        self._fail = []                # [(status, code)] for the next requests
        self._cut = []                 # [bytes of body to send before closing]
        self._kill_at = None           # kill everything after this many bytes of one body
        self._connections = set()
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._server = None
        self.start()

    # life
    def start(self):
        with self._life:
            server = _Server(("127.0.0.1", self.port), _Handler)
            server.proxy = self
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                             daemon=True).start()
            self._server = server

    def kill(self):
        """As a server that dies: the port refuses connections, every open connection is cut
        (a response being sent ends short)."""
        with self._life:
            server = self._server
            if server is None:
                return
            server.shutdown()
            server.server_close()
            with self._lock:
                conns = list(self._connections)
            for conn in conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._server = None

    def restart(self):
        self.kill()
        self.start()

    def stop(self):
        self.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def alive(self):
        """False once kill() has closed the port and cut the connections."""
        return self._server is not None

    # faults
    def fail_next(self, n=1, status=503, code="SlowDown"):
        """The next n requests are answered status with S3's XML error code, not passed on."""
        with self._lock:
            self._fail += [(status, code)] * n

    def cut_next(self, n=1, keep=0.5):
        """The next n responses with a body end after keep of it (a fraction, or a byte count
        when an int > 1), and their connection is closed: a server that died mid-body."""
        with self._lock:
            self._cut += [keep] * n

    def pause(self):
        """Requests are read and then held, unanswered, until resume(): a server that hangs."""
        self._unpaused.clear()

    def resume(self):
        self._unpaused.set()

    def kill_mid_body(self, keep=0.5):
        """The next response with a body sends keep of it, then the whole proxy is killed."""
        with self._lock:
            self._kill_at = keep

    # the log
    def requests(self, own=False, method=None):
        """[Request] in the order they ended; this module's own requests only when own; of method
        when given.  A client has its answer a moment before the proxy logs it: this waits (2 s
        at most) until no request is being answered."""
        end = time.monotonic() + 2
        while self._inflight and time.monotonic() < end:
            time.sleep(0.005)
        with self._lock:
            out = list(self._requests)
        return [r for r in out if (own or r.agent != OWN_AGENT)
                and (method is None or r.method == method)]

    def mark(self):
        """A position in the log: requests(...)[mark:] are those made after it."""
        return len(self.requests())

    def bytes_sent(self, since=0):
        """Body bytes sent to clients by the requests after mark since (own ones left out)."""
        return sum(r.sent for r in self.requests()[since:])

    def _record(self, h, status, sent, code=None):
        path, _, query = h.path.partition("?")
        r = Request(h.command, path, query, h.headers.get("Range"), status, sent, code,
                    h.headers.get("User-Agent", ""))
        with self._lock:
            self._requests.append(r)
            if self.log:
                with open(self.log, "a") as f:
                    f.write(f"{r.method} {h.path} range={r.range} {r.status} {r.sent} "
                            f"{r.code or '-'} {r.agent}\n")

    # serving
    def _serve(self, h):
        with self._lock:
            self._inflight += 1
        try:
            self._answer(h)
        finally:
            with self._lock:
                self._inflight -= 1

    def _answer(self, h):
        body, digest, length = _read_body(h)
        with body:
            self._check_and_pass(h, body, digest, length)

    def _check_and_pass(self, h, body, digest, length):
        self._unpaused.wait()
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            fault = self._fail.pop(0) if self._fail else None
        if fault:
            return self._refuse(h, Refusal(fault[0], fault[1], "injected fault"))
        try:
            verify(h.command, h.path, h.headers.items(), digest, self.credentials, self.region)
        except Refusal as r:
            return self._refuse(h, r)
        headers = [(n, v) for n, v in h.headers.items()
                   if n.lower() not in _HOP and n.lower() != "content-length"]
        headers.append(("Content-Length", str(length)))
        rng = h.headers.get("Range")
        try:
            if rng and re.fullmatch(r"bytes=-\d+", rng.strip()):
                headers = self._suffix_range(h, headers, int(rng.strip()[7:]))
            up = http.client.HTTPConnection(*self.upstream, timeout=60)
            up.request(h.command, h.path, body=body, headers=dict(headers))
            resp = up.getresponse()
        except (OSError, http.client.HTTPException) as e:
            return self._refuse(h, Refusal(502, "BadGateway", f"s3rver: {e}"))
        try:
            etag = resp.getheader("ETag")
            want = h.headers.get("If-Match")
            if want and resp.status in (200, 206) and want.strip() not in (etag, "*"):
                return self._refuse(h, Refusal(412, "PreconditionFailed", "At least one of the "
                                    "pre-conditions you specified did not hold",
                                    Condition="If-Match"))
            self._pass(h, resp)
        finally:
            resp.close()
            up.close()

    def _suffix_range(self, h, headers, n):
        """s3rver reads bytes=-N as bytes=0-N: ask it the size and send the range as S3 means it."""
        up = http.client.HTTPConnection(*self.upstream, timeout=60)
        up.request("HEAD", h.path, headers={k: v for k, v in headers if k.lower() != "range"})
        size = int(up.getresponse().getheader("Content-Length"))
        up.close()
        return [(k, f"bytes={max(size - n, 0)}-{size - 1}" if k.lower() == "range" else v)
                for k, v in headers]

    def _refuse(self, h, r):
        body = r.xml()
        try:
            h.send_response(r.status)
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Length", str(len(body)))
            h.send_header("x-amz-request-id", "corefstest")
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(body)
        except OSError:
            h.close_connection = True
        self._record(h, r.status, 0 if h.command == "HEAD" else len(body), r.code)

    def _pass(self, h, resp):
        length = resp.getheader("Content-Length")
        chunked = length is None and h.command != "HEAD" and resp.status not in (204, 304)
        data = resp.read() if chunked else None        # s3rver's XML answers: small
        body = h.command != "HEAD" and resp.status in (200, 206)   # faults cut object bytes
        with self._lock:
            cut = self._cut.pop(0) if self._cut and body else None
            kill = self._kill_at if body else None
            if kill is not None:
                self._kill_at = None
        stop = cut if cut is not None else kill
        total = len(data) if chunked else int(length or 0)
        limit = None if stop is None else (stop if isinstance(stop, int) and stop > 1
                                           else int(total * stop))
        sent = 0
        try:
            h.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP and k.lower() not in ("content-length", "date"):
                    h.send_header(k, v)
            h.send_header("Content-Length", str(total))
            h.end_headers()
            if h.command != "HEAD":
                rate = self.rate
                step = max(1, min(1 << 16, rate // 20)) if rate else 1 << 16
                src = iter([data]) if chunked else iter(lambda: resp.read(step), b"")
                start = time.monotonic()
                for chunk in src:
                    if rate:
                        time.sleep(max(0.0, start + sent / rate - time.monotonic()))
                    if limit is not None and sent + len(chunk) >= limit:
                        chunk = chunk[:limit - sent]
                        h.wfile.write(chunk)
                        sent += len(chunk)
                        h.wfile.flush()
                        h.close_connection = True
                        break
                    h.wfile.write(chunk)
                    sent += len(chunk)
        except OSError:
            h.close_connection = True
        self._record(h, resp.status, sent)
        if limit is not None:
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if kill is not None and cut is None:
                threading.Thread(target=self.kill, daemon=True).start()


def _read_body(h):
    """(the request's body in a spooled file at its start, its SHA-256, its length): the
    Content-Length bytes, or a chunked body decoded.  A core of hundreds of MiB stays on disk."""
    out = tempfile.SpooledTemporaryFile(8 << 20)
    digest = hashlib.sha256()

    def take(n):
        while n > 0:
            chunk = h.rfile.read(min(n, 1 << 20))
            if not chunk:
                raise OSError("the request's body ended early")
            digest.update(chunk)
            out.write(chunk)
            n -= len(chunk)

    if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            take(size)
            h.rfile.readline()
    else:
        take(int(h.headers.get("Content-Length") or 0))
    length = out.tell()
    out.seek(0)
    return out, digest.hexdigest(), length


# --- s3rver ---------------------------------------------------------------------------------------

def ensure_s3rver():
    """The s3rver package under build/npm, installed there by npm on first use (one installer at a
    time); its package directory."""
    pkg = NPM_PREFIX / "node_modules" / "s3rver"
    if not shutil.which("node") or not shutil.which("npm"):
        raise AssertionError("the S3 tests need node and npm: apt-get install nodejs npm")
    if (pkg / "package.json").exists():
        return pkg
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    with open(NPM_PREFIX / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (pkg / "package.json").exists():
            p = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix",
                                str(NPM_PREFIX), S3RVER_SPEC], capture_output=True, text=True)
            if p.returncode != 0:
                raise AssertionError(f"npm install {S3RVER_SPEC} failed: {p.stderr[-2000:]}")
    return pkg


# s3rver 3 knows one account whose key pair is S3RVER/S3RVER, with no option for others: the key
# pairs are added to that account before it starts.  Path-style addressing only.
_S3RVER_MAIN = """\
const S3rver = require('s3rver');
const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account');
const [directory, keys, buckets] = process.argv.slice(2).map(JSON.parse);
for (const [id, secret] of Object.entries(keys)) DUMMY_ACCOUNT.createKeyPair(id, secret);
new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, vhostBuckets: false,
             configureBuckets: buckets.map(name => ({ name, configs: [] })) })
  .run().then(a => console.log(JSON.stringify({ port: a.port })),
              e => { console.error(e); process.exit(1); });
"""


class S3Server:
    """s3rver on a free port of 127.0.0.1 serving the S3 API from workdir/data, behind a
    SigV4Proxy (`self.proxy`; `self.url` is the proxy's, the endpoint to give clients).

    keys: {access key id: (secret, session token or None)} accepted (default: KEY_ID/SECRET);
    buckets are made at start.  put/replace/delete/get/list are requests signed by this module's
    own signer, through the proxy, logged as OWN_AGENT's."""

    def __init__(self, workdir, buckets=("cores",), keys=None, region=REGION):
        ensure_s3rver()
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "data").mkdir(exist_ok=True)
        self.keys = dict(keys or {KEY_ID: (SECRET, None)})
        self.key_id = next(iter(self.keys))
        self.region = region
        main = self.dir / "s3rver-main.js"
        main.write_text(_S3RVER_MAIN)
        self.stderr = open(self.dir / "s3rver.log", "wb")
        self.proc = subprocess.Popen(
            ["node", "--openssl-legacy-provider", str(main), json.dumps(str(self.dir / "data")),
             json.dumps({k: s for k, (s, _) in self.keys.items()}), json.dumps(list(buckets))],
            stdout=subprocess.PIPE, stderr=self.stderr,
            env={**os.environ, "NODE_PATH": str(NPM_PREFIX / "node_modules")})
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise AssertionError(f"s3rver did not start: "
                                 f"{(self.dir / 's3rver.log').read_text(errors='replace')[-2000:]}")
        self.s3rver_port = json.loads(line)["port"]
        self.proxy = SigV4Proxy(("127.0.0.1", self.s3rver_port), self.keys, region,
                                log=self.dir / "requests.log")
        self.url = self.proxy.url
        self.port = self.proxy.port

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if getattr(self, "proxy", None):
            self.proxy.stop()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()

    def env(self, key_id=None, **more):
        """os.environ without AWS_* variables, then the ones a client needs for this server
        (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN when the key has one,
        AWS_REGION, AWS_ENDPOINT_URL), the AWS tools' files pointed at none, then more."""
        key_id = key_id or self.key_id
        secret, token = self.keys[key_id]
        out = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        out.update(AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret, AWS_REGION=self.region,
                   AWS_ENDPOINT_URL=self.url,
                   AWS_SHARED_CREDENTIALS_FILE=str(self.dir / "no-credentials"),
                   AWS_CONFIG_FILE=str(self.dir / "no-config"))
        if token is not None:
            out["AWS_SESSION_TOKEN"] = token
        out.update({k: str(v) for k, v in more.items()})
        return out

    def profile_env(self, profile="corefs", key_id=None, **more):
        """An environment whose credentials come only from HOME/.aws/credentials (a fresh HOME
        under workdir) with AWS_PROFILE=profile; the endpoint and region from the environment."""
        key_id = key_id or self.key_id
        secret, token = self.keys[key_id]
        home = self.dir / "home"
        (home / ".aws").mkdir(parents=True, exist_ok=True)
        text = (f"[default]\naws_access_key_id = AKIDNOTTHISONE\naws_secret_access_key = wrong\n\n"
                f"[{profile}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n")
        if token is not None:
            text += f"aws_session_token = {token}\n"
        (home / ".aws" / "credentials").write_text(text)
        out = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        out.update(HOME=str(home), AWS_PROFILE=profile, AWS_REGION=self.region,
                   AWS_ENDPOINT_URL=self.url)
        out.update({k: str(v) for k, v in more.items()})
        return out

    def object_url(self, bucket, key):
        """The path-style URL of an object at the proxy, as clients are to ask for it."""
        return f"{self.url}/{bucket}/{uri_encode(key, keep_slash=True)}"

    # requests of our own
    def request(self, method, path, query="", headers=None, body=b"", payload_hash=None,
                key_id=None, secret=None):
        """(status, headers dict, body) of a request signed by this module's signer, through the
        proxy.  body may be bytes or a path (streamed); payload_hash defaults to its SHA-256."""
        key_id = key_id or self.key_id
        real_secret, token = self.keys.get(key_id, ("", None))
        if isinstance(body, (str, os.PathLike)):
            digest, size = _file_sha256(body), os.path.getsize(body)
            stream = open(body, "rb")
        else:
            digest, size, stream = hashlib.sha256(body).hexdigest(), len(body), body
        hs = sign_headers(method, f"127.0.0.1:{self.port}", path, query,
                          {"User-Agent": OWN_AGENT, "Content-Length": str(size), **(headers or {})},
                          payload_hash or digest, key_id, secret or real_secret, self.region,
                          token=token)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path + (f"?{query}" if query else ""), body=stream, headers=hs)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()
            if stream is not body:
                stream.close()

    def put(self, bucket, key, src):
        """Upload src (bytes, or a file's path) as bucket/key, replacing what is there; its ETag."""
        status, headers, body = self.request("PUT", f"/{bucket}/{uri_encode(key, True)}",
                                             body=src)
        if status != 200:
            raise AssertionError(f"PUT {bucket}/{key}: {status} {body[:500]}")
        return headers.get("ETag")

    replace = put

    def delete(self, bucket, key):
        status, _, body = self.request("DELETE", f"/{bucket}/{uri_encode(key, True)}")
        if status not in (200, 204):
            raise AssertionError(f"DELETE {bucket}/{key}: {status} {body[:500]}")

    def create_bucket(self, bucket):
        status, _, body = self.request("PUT", f"/{bucket}")
        if status != 200:
            raise AssertionError(f"PUT {bucket}: {status} {body[:500]}")

    def get(self, bucket, key, range=None):
        return self.request("GET", f"/{bucket}/{uri_encode(key, True)}",
                            headers={"Range": range} if range else None)

    def list(self, bucket, prefix="", max_keys=None):
        """The keys under prefix (ListObjectsV2, every page of max_keys keys)."""
        keys, token = [], None
        while True:
            q = {"list-type": "2", "prefix": prefix}
            if max_keys:
                q["max-keys"] = str(max_keys)
            if token:
                q["continuation-token"] = token
            status, _, body = self.request("GET", f"/{bucket}",
                                           urllib.parse.urlencode(q, quote_via=urllib.parse.quote))
            if status != 200:
                raise AssertionError(f"ListObjectsV2 {bucket} {prefix}: {status} {body[:500]}")
            text = body.decode()
            keys += [_xml_unescape(k) for k in re.findall(r"<Key>(.*?)</Key>", text)]
            m = re.search(r"<NextContinuationToken>(.*?)</NextContinuationToken>", text)
            if "<IsTruncated>true</IsTruncated>" not in text or not m:
                return keys
            token = _xml_unescape(m[1])


def _xml_unescape(s):
    return (s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
            .replace("&apos;", "'").replace("&amp;", "&"))


def _file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- nginx ----------------------------------------------------------------------------------------

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    log_format requests '$request_method $request_uri $status $body_bytes_sent '
                        '"$http_range" "$http_user_agent"';
    access_log {d}/access.log requests;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    default_type application/octet-stream;
    etag on;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        {rate}
    }}
}}
"""

HttpRequest = collections.namedtuple("HttpRequest", "method path range status sent agent")


class HttpServer(Server):
    """Debian's nginx on a free port of 127.0.0.1 serving workdir/www (files given by add(), a
    `ready` file for the start-up poll), Range, ETag and Last-Modified as nginx does for static
    files; each response at most rate bytes a second when rate is given (limit_rate).
    kill() is SIGKILL (a request being served ends short, and is not logged); restart() starts it
    again on the same port over the same files."""

    def __init__(self, workdir, files=None, rate=None):
        self.dir = pathlib.Path(workdir)
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        self.www = self.dir / "www"
        self.www.mkdir(exist_ok=True)
        (self.www / "ready").write_text("ready\n")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        for name, src in (files or {}).items():
            self.add(name, src)
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(NGINX_CONF.format(d=self.dir, port=self.port,
                                               rate=f"limit_rate {rate};" if rate else ""))
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["nginx", "-c", str(self.conf), "-p", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 30
        while self._status("/ready") != 200:
            if self.proc.poll() is not None or time.monotonic() > end:
                log = (self.dir / "error.log").read_text(errors="replace")
                raise AssertionError(f"nginx at {self.url} did not start: {log[-2000:]}")
            time.sleep(0.05)

    def _status(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", path, headers={"User-Agent": OWN_AGENT})
            return conn.getresponse().status
        except OSError:
            return 0
        finally:
            conn.close()

    def add(self, name, src):
        """Serve src (a path or bytes) as /name; a file already there is replaced by a new one (a
        new inode and an mtime at least a second later, so a new ETag and Last-Modified)."""
        dst = self.www / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        old = dst.stat().st_mtime if dst.exists() else 0
        tmp = dst.with_name(f".{dst.name}.tmp")
        if isinstance(src, (bytes, bytearray)):
            tmp.write_bytes(src)
        else:
            shutil.copyfile(src, tmp)
        t = max(time.time(), old + 1)
        os.utime(tmp, (t, t))
        os.replace(tmp, dst)
        return f"{self.url}/{urllib.parse.quote(name)}"

    replace = add

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self):
        self.kill()
        self.start()

    LINE = re.compile(r'^(\S+) (\S+) (\d+) (\d+) "(.*?)" "(.*)"$')

    def requests(self, own=False):
        """[HttpRequest] of the access log, in the order they ended; range None without one."""
        path = self.dir / "access.log"
        out = []
        for line in (path.read_text(errors="replace").splitlines() if path.exists() else []):
            m = self.LINE.match(line)
            if m and (own or m[6] != OWN_AGENT):
                out.append(HttpRequest(m[1], m[2], None if m[5] == "-" else m[5], int(m[3]),
                                       int(m[4]), m[6]))
        return out

    def mark(self):
        return len(self.requests())

    def bytes_sent(self, since=0):
        return sum(r.sent for r in self.requests()[since:])
