"""The servers the remote-source tests (issue 13) mount cores from, tested before corefs uses them:
tests/remote_servers.py.

The Signature V4 verifier is the one thing there that decides whether corefs signs right, so it is
held to AWS's own answers first: the worked examples of AWS's documentation (the IAM ListUsers
example; S3's GET Object with Range, PUT Object, GET Bucket Lifecycle and List Objects) and
requests of AWS's Signature V4 test suite (tests/sigv4_vectors/, each with its source).  Each must
be accepted as published, and refused once anything signed in it changes.

Then the servers, live on 127.0.0.1: requests signed by Debian's curl (`--aws-sigv4`, the
libcurl corefs will use) pass the proxy and get an object's bytes for a Range; a wrong secret, a
tampered header, a missing x-amz-content-sha256, a skewed clock, a wrong session token are
refused; what curl 7.88 signs and what it does not (the query's order and encoding, a key's
characters); ListObjectsV2 with a prefix; If-Match; the fault hooks; nginx's Range answers and
the bytes its log says it sent.
"""
import hashlib
import http.client
import json
import os
import pathlib
import re
import subprocess
import threading
import time

import pytest

import remote_servers as rs

VECTORS = pathlib.Path(__file__).resolve().parent / "sigv4_vectors"
SUITE = VECTORS / "aws-sig-v4-test-suite"
EXAMPLES = json.loads((VECTORS / "examples.json").read_text())
SUITE_CONTEXT = json.loads((SUITE / "context.json").read_text())
SUITE_NAMES = sorted(p.stem for p in SUITE.glob("*.txt"))

SESSION_KEY = "ASIAEXAMPLESESSION01"
SESSION = ("sessionSecretExample/abc+def", "FwoGZXIvYXdzEXAMPLE//token+with/odd=chars")


def at(stamp):
    """The Unix time of an x-amz-date."""
    return time.mktime(time.strptime(stamp, "%Y%m%dT%H%M%SZ")) - time.timezone


# --- the verifier against AWS's published vectors -------------------------------------------------

def example_request(e):
    """(target, headers, body SHA-256) of a documented example, with its Authorization."""
    body = hashlib.sha256(e["body"].encode()).hexdigest()
    scope = f"{e['timestamp'][:8]}/{e['region']}/{e['service']}/aws4_request"
    auth = (f"AWS4-HMAC-SHA256 Credential={e['access_key_id']}/{scope}, "
            f"SignedHeaders={e['signed_headers']}, Signature={e['signature']}")
    target = e["path"] + (f"?{e['query']}" if e["query"] else "")
    return target, [tuple(h) for h in e["headers"]] + [("Authorization", auth)], body


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_documented_examples(name):
    """Each worked example of AWS's documentation: its canonical request hashes to the published
    value, it signs to the published signature, and verify() accepts it as sent."""
    e = EXAMPLES[name]
    body = hashlib.sha256(e["body"].encode()).hexdigest()
    creq = rs.canonical_request(e["method"], e["path"], e["query"], e["headers"],
                                e["signed_headers"].split(";"), body)
    assert hashlib.sha256(creq.encode()).hexdigest() == e["canonical_request_sha256"], creq
    if "signing_key" in e:
        assert rs.signing_key(e["secret_access_key"], e["timestamp"][:8], e["region"],
                              e["service"]).hex() == e["signing_key"]
    s = rs.signature(e["secret_access_key"], e["timestamp"], e["region"], e["service"], creq)
    assert s.signature == e["signature"]
    target, headers, body = example_request(e)
    key_id, signed = rs.verify(e["method"], target, headers, body,
                               {e["access_key_id"]: (e["secret_access_key"], None)}, e["region"],
                               e["service"], now=at(e["timestamp"]))
    assert key_id == e["access_key_id"] and ";".join(signed) == e["signed_headers"]


def test_the_briefs_iam_signature_is_get_vanilla():
    """5fa00fa3... is the test suite's get-vanilla (service "service", example.amazonaws.com),
    not the IAM ListUsers example, whose published signature is 5d672d79...: both hold."""
    assert EXAMPLES["iam-list-users"]["signature"].startswith("5d672d79")
    assert "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" in \
        (SUITE / "get-vanilla.txt").read_text()


def parse_signed_request(text):
    """(method, target, [(name, value)]) of a test-suite header-signed-request.txt."""
    lines = text.split("\n")
    method, target, _ = lines[0].split(" ")
    headers = []
    for line in lines[1:]:
        if not line:
            break
        name, _, value = line.partition(":")
        headers.append((name, value))
    return method, target, headers


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_suite_vectors(name):
    """Each kept request of AWS's test suite is accepted as signed; it is refused with a wrong
    secret, with one signed header's value changed, and (with a token) without its token."""
    c = SUITE_CONTEXT
    method, target, headers = parse_signed_request((SUITE / f"{name}.txt").read_text())
    has_token = any(n.lower() == "x-amz-security-token" for n, _ in headers)
    token = c["credentials"]["token"] if has_token else None
    creds = {c["credentials"]["access_key_id"]: (c["credentials"]["secret_access_key"], token)}
    now = at(c["timestamp"])

    def check(hs, credentials=creds):
        return rs.verify(method, target, hs, c["body_sha256"], credentials, c["region"],
                         c["service"], now=now)

    check(headers)
    wrong = {k: ("x" + s, t) for k, (s, t) in creds.items()}
    with pytest.raises(rs.Refusal, match="SignatureDoesNotMatch"):
        check(headers, wrong)
    tampered = [(n, v + "x") if n.lower() in ("host", "my-header1") else (n, v) for n, v in headers]
    with pytest.raises(rs.Refusal, match="SignatureDoesNotMatch"):
        check(tampered)
    if has_token:
        with pytest.raises(rs.Refusal, match="InvalidToken"):
            check([(n, v) for n, v in headers if n.lower() != "x-amz-security-token"])


def test_verifier_refusals_by_rule():
    """One documented example changed one way at a time: each rule of verify() refuses it with
    S3's error code, and the original passes."""
    e = EXAMPLES["s3-get-object"]
    target, headers, body = example_request(e)
    creds = {e["access_key_id"]: (e["secret_access_key"], None)}
    now = at(e["timestamp"])

    def refused(code, t=target, hs=headers, b=body, when=now, credentials=creds, method="GET"):
        with pytest.raises(rs.Refusal) as r:
            rs.verify(method, t, hs, b, credentials, now=when)
        assert r.value.code == code, r.value
        return r.value

    rs.verify("GET", target, headers, body, creds, now=now)
    r = refused("SignatureDoesNotMatch", method="HEAD")
    assert "HEAD\n/test.txt" in r.extra["CanonicalRequest"]        # says what it computed
    refused("SignatureDoesNotMatch", t="/test.txt?x=1")
    refused("SignatureDoesNotMatch", t="/Test.txt")
    refused("SignatureDoesNotMatch", hs=[(n, "bytes=0-10" if n == "Range" else v)
                                         for n, v in headers])
    refused("RequestTimeTooSkewed", when=now + 16 * 60)
    rs.verify("GET", target, headers, body, creds, now=now + 14 * 60)
    refused("InvalidAccessKeyId", credentials={"AKIDOTHER": ("x", None)})
    refused("InvalidToken", credentials={e["access_key_id"]: (e["secret_access_key"], "tok")})
    refused("InvalidRequest", hs=[(n, v) for n, v in headers if n != "x-amz-content-sha256"])
    refused("AccessDenied", hs=[(n, v) for n, v in headers if n != "Authorization"])
    refused("AccessDenied", hs=headers + [("x-amz-meta-unsigned", "1")])
    refused("XAmzContentSHA256Mismatch", b=hashlib.sha256(b"other").hexdigest())
    refused("AccessDenied", t="/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256")
    bad_scope = [(n, v.replace("/us-east-1/", "/eu-west-1/")) for n, v in headers]
    refused("AuthorizationHeaderMalformed", hs=bad_scope)


def test_canonical_forms():
    """The encodings S3's canonical request asks for, spelled out."""
    assert rs.uri_encode("a b/c~d*é") == "a%20b%2Fc~d%2A%C3%A9"
    assert rs.canonical_uri("/bucket/a b+c:d/core.1") == "/bucket/a%20b%2Bc%3Ad/core.1"
    assert rs.canonical_uri("/bucket/a%20b%2Bc%3Ad/core.1") == "/bucket/a%20b%2Bc%3Ad/core.1"
    assert rs.canonical_uri("") == "/"
    assert rs.canonical_query("prefix=a/b&list-type=2&x") == "list-type=2&prefix=a%2Fb&x="
    assert rs.canonical_headers([("A", "  x   y "), ("a", "z"), ("B", "1")], ["a", "b"]) == \
        "a:x y,z\nb:1\n"


# --- S3: s3rver behind the proxy, live ------------------------------------------------------------

@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    keys = {rs.KEY_ID: (rs.SECRET, None), SESSION_KEY: SESSION}
    with rs.S3Server(tmp_path_factory.mktemp("s3"), buckets=("cores", "other"), keys=keys) as s:
        s.data = os.urandom(3 << 20)
        s.etag = s.put("cores", "host1/core.1234", s.data)
        s.put("cores", "host1/core.5678", b"small core")
        s.put("cores", "host2/core.1", b"another host")
        yield s


def curl(s3, path, *opts, key_id=rs.KEY_ID, secret=rs.SECRET, sha=rs.EMPTY_SHA256):
    """Debian's curl with --aws-sigv4 on the proxy: (its stdout, the proxy's log entry, the
    SignedHeaders curl sent)."""
    mark = len(s3.proxy.requests())
    cmd = ["curl", "-sS", "-v", "--aws-sigv4", f"aws:amz:{rs.REGION}:s3",
           "--user", f"{key_id}:{secret}", *opts]
    if sha is not None:
        cmd += ["-H", f"x-amz-content-sha256: {sha}"]
    p = subprocess.run(cmd + [s3.url + path], capture_output=True, timeout=30)
    signed = re.search(rb"SignedHeaders=([^,\s]+)", p.stderr)
    log = s3.proxy.requests()[mark:]
    assert len(log) == 1, log
    return p.stdout, log[0], signed[1].decode() if signed else None


def test_curl_range_through_the_proxy(s3):
    """curl 7.88 --aws-sigv4 with x-amz-content-sha256 given by -H signs that header (it is in
    SignedHeaders), the proxy accepts the signature and s3rver answers the Range: 206, the
    object's bytes, and the log counts them."""
    out, r, signed = curl(s3, "/cores/host1/core.1234", "-r", "1000-1999")
    assert signed == "host;x-amz-content-sha256;x-amz-date"
    assert (r.status, r.range, r.sent, r.code) == (206, "bytes=1000-1999", 1000, None)
    assert out == s3.data[1000:2000]
    out, r, _ = curl(s3, "/cores/host1/core.1234", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                     "-r", "0-9", sha=None)
    assert (r.status, out) == (206, s3.data[:10])


def test_curl_keeps_the_connection(s3):
    """Several requests on one kept-alive connection (as libcurl reuses it): each verified."""
    mark = s3.proxy.mark()
    p = subprocess.run(["curl", "-sS", "-v", "--aws-sigv4", f"aws:amz:{rs.REGION}:s3",
                        "--user", f"{rs.KEY_ID}:{rs.SECRET}", "-H",
                        f"x-amz-content-sha256: {rs.EMPTY_SHA256}", "-r", "10-19",
                        *[s3.url + "/cores/host1/core.1234"] * 3], capture_output=True,
                       timeout=30)
    assert p.stdout == s3.data[10:20] * 3
    assert p.stderr.count(b"Re-using existing connection") == 2
    assert [(r.status, r.sent) for r in s3.proxy.requests()[mark:]] == [(206, 10)] * 3


def test_curl_refusals(s3):
    """A wrong secret, an unknown key, no x-amz-content-sha256 (curl 7.88 adds none of its own),
    a header added after signing, a session token the key does not have: 403, S3's error."""
    _, r, _ = curl(s3, "/cores/host1/core.1234", "-r", "0-9", secret="wrong")
    assert (r.status, r.code) == (403, "SignatureDoesNotMatch")
    _, r, _ = curl(s3, "/cores/host1/core.1234", "-r", "0-9", key_id="AKIDUNKNOWN")
    assert (r.status, r.code) == (403, "InvalidAccessKeyId")
    out, r, signed = curl(s3, "/cores/host1/core.1234", "-r", "0-9", sha=None)
    assert signed == "host;x-amz-date"
    assert (r.status, r.code) == (403, "InvalidRequest") and b"x-amz-content-sha256" in out
    _, r, _ = curl(s3, "/cores/host1/core.1234", "-H", "x-amz-security-token: t")
    assert (r.status, r.code) == (403, "InvalidToken")


def test_tampered_requests(s3):
    """Requests signed right by this module's signer, then changed on the way: refused."""
    path = "/cores/host1/core.1234"
    host = f"127.0.0.1:{s3.port}"

    def send(headers, target=path):
        conn = http.client.HTTPConnection("127.0.0.1", s3.port, timeout=10)
        conn.request("GET", target, headers=headers)
        resp = conn.getresponse()
        out = resp.status, resp.read()
        conn.close()
        return out

    good = rs.sign_headers("GET", host, path, headers={"Range": "bytes=0-9"})
    assert send(good) == (206, s3.data[:10])
    for change in ({"Range": "bytes=0-99"}, {"X-Amz-Date": rs.amz_date(time.time() + 1)},
                   {"Host": "127.0.0.1:1"}):
        status, body = send({**good, **change})
        assert status == 403 and b"SignatureDoesNotMatch" in body, (change, body)
    assert send(good, path + "?versionId=1")[0] == 403
    old = rs.sign_headers("GET", host, path, date=rs.amz_date(time.time() - 16 * 60))
    assert b"RequestTimeTooSkewed" in send(old)[1]


def test_session_token(s3):
    """A key with a session token: passes with the token signed, refused without it or with
    another (curl --aws-sigv4 signs an x-amz-security-token given by -H)."""
    path = "/cores/host1/core.5678"
    out, r, signed = curl(s3, path, "-H", f"x-amz-security-token: {SESSION[1]}",
                          key_id=SESSION_KEY, secret=SESSION[0])
    assert (r.status, out) == (200, b"small core")
    assert signed == "host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
    _, r, _ = curl(s3, path, key_id=SESSION_KEY, secret=SESSION[0])
    assert (r.status, r.code) == (403, "InvalidToken")
    _, r, _ = curl(s3, path, "-H", "x-amz-security-token: other", key_id=SESSION_KEY,
                   secret=SESSION[0])
    assert (r.status, r.code) == (403, "InvalidToken")
    env = s3.env(SESSION_KEY)
    assert env["AWS_SESSION_TOKEN"] == SESSION[1] and env["AWS_ENDPOINT_URL"] == s3.url


def test_what_curl_788_signs_of_the_url(s3):
    """What the C side must do itself with curl 7.88's SigV4 (checked here, as AWS computes the
    canonical request): send the query already sorted by name and URI-encoded ('/' as %2F), and
    the key's path URI-encoded (every byte but A-Za-z0-9-_.~ and '/'); curl signs the URL as
    given, without sorting or encoding it."""
    out, r, _ = curl(s3, "/cores?list-type=2&prefix=host1%2F")
    assert r.status == 200
    keys = re.findall(rb"<Key>(.*?)</Key>", out)
    assert keys == [b"host1/core.1234", b"host1/core.5678"]
    assert curl(s3, "/cores?prefix=host1%2F&list-type=2")[1].code == "SignatureDoesNotMatch"
    assert curl(s3, "/cores?list-type=2&prefix=host1/")[1].code == "SignatureDoesNotMatch"
    s3.put("cores", "odd key+:=/core 1", b"odd")
    url = "/cores/" + rs.uri_encode("odd key+:=/core 1", keep_slash=True)
    assert curl(s3, url)[:2][0] == b"odd"
    assert curl(s3, "/cores/odd%20key+:=/core%201")[1].code == "SignatureDoesNotMatch"
    s3.delete("cores", "odd key+:=/core 1")


def test_list_objects_v2(s3):
    """ListObjectsV2 through the proxy: a prefix, every page, a bucket of its own, ETags."""
    assert s3.list("cores", "host1/") == ["host1/core.1234", "host1/core.5678"]
    assert s3.list("cores", "host") == ["host1/core.1234", "host1/core.5678", "host2/core.1"]
    assert s3.list("other") == []
    status, _, body = s3.request("GET", "/cores", "list-type=2&max-keys=1&prefix=host1%2F")
    assert status == 200 and b"<IsTruncated>true</IsTruncated>" in body
    assert s3.list("cores", "host", max_keys=1) == s3.list("cores", "host")
    assert s3.etag.strip('"') == hashlib.md5(s3.data).hexdigest()
    listing = rs._xml_unescape(s3.request("GET", "/cores", "list-type=2")[2].decode())
    assert "<Key>host1/core.1234</Key><LastModified>" in listing
    assert f"<ETag>{s3.etag}</ETag>" in listing


def test_replace_and_if_match(s3):
    """replace() gives an object a new ETag; If-Match the old one: 412 PreconditionFailed (as S3;
    s3rver alone ignores If-Match).  A suffix range is served as S3 means it."""
    key = "host2/replaced"
    old = s3.put("cores", key, b"A" * 100)
    status, headers, body = s3.get("cores", key, "bytes=-10")
    assert (status, body, headers["Content-Range"]) == (206, b"A" * 10, "bytes 90-99/100")
    new = s3.replace("cores", key, b"B" * 100)
    assert new != old
    assert s3.request("GET", f"/cores/{key}", headers={"If-Match": old})[0] == 412
    assert s3.request("GET", f"/cores/{key}", headers={"If-Match": new})[:3:2] == (200, b"B" * 100)
    assert s3.get("cores", "host2/none")[0] == 404
    s3.delete("cores", key)


def test_faults(s3):
    """The hooks: 5xx for the next requests, a delay, a pause (a server that hangs), a body cut
    short, a kill mid-body (the port refuses until restart), a restart."""
    path = "/cores/host1/core.1234"
    s3.proxy.fail_next(2, 503, "SlowDown")
    assert [curl(s3, path, "-r", "0-9")[1].status for _ in range(3)] == [503, 503, 206]

    s3.proxy.delay = 0.3
    t = time.monotonic()
    curl(s3, path, "-r", "0-9")
    assert time.monotonic() - t >= 0.3
    s3.proxy.delay = 0

    s3.proxy.pause()
    p = subprocess.run(["curl", "-sS", "--max-time", "0.5", s3.url + path], capture_output=True)
    assert p.returncode == 28, p.stderr      # timed out: the server hangs
    s3.proxy.resume()
    assert curl(s3, path, "-r", "0-9")[0] == s3.data[:10]

    s3.proxy.cut_next(1, keep=0.5)
    out, r, _ = curl(s3, path, "-r", "0-99999")
    assert (r.status, r.sent, len(out)) == (206, 50000, 50000) and out == s3.data[:50000]
    assert curl(s3, path, "-r", "0-99999")[0] == s3.data[:100000]

    s3.proxy.kill_mid_body(keep=1 << 20)
    out, r, _ = curl(s3, path)
    assert r.sent == 1 << 20 and out == s3.data[:1 << 20]
    for _ in range(100):
        if not s3.proxy.alive:
            break
        time.sleep(0.01)
    assert not s3.proxy.alive
    p = subprocess.run(["curl", "-sS", s3.url + path], capture_output=True)
    assert p.returncode == 7, p.stderr       # couldn't connect
    s3.proxy.restart()
    assert curl(s3, path, "-r", "5-9")[0] == s3.data[5:10]


def test_kill_under_a_reading_client(s3):
    """kill() while a client is in the middle of a body (sent at 1 MiB/s): the client gets a short
    body, at once."""
    s3.proxy.rate = 1 << 20
    host = f"127.0.0.1:{s3.port}"
    conn = http.client.HTTPConnection("127.0.0.1", s3.port, timeout=10)
    conn.request("GET", "/cores/host1/core.1234",
                 headers=rs.sign_headers("GET", host, "/cores/host1/core.1234"))
    resp = conn.getresponse()
    first = resp.read(4096)
    threading.Timer(0.1, s3.proxy.kill).start()
    t = time.monotonic()
    with pytest.raises((http.client.IncompleteRead, OSError)):
        resp.read()
    assert time.monotonic() - t < 1.5
    conn.close()
    s3.proxy.rate = None
    assert first == s3.data[:4096]
    r = s3.proxy.requests(own=True)[-1]
    assert r.status == 200 and 4096 <= r.sent < len(s3.data) // 2
    s3.proxy.restart()
    assert s3.get("cores", "host1/core.5678")[2] == b"small core"


def test_profile_env_writes_credentials(s3):
    """profile_env(): credentials only in HOME/.aws/credentials under AWS_PROFILE."""
    env = s3.profile_env("corefs")
    assert "AWS_ACCESS_KEY_ID" not in env and env["AWS_PROFILE"] == "corefs"
    text = (pathlib.Path(env["HOME"]) / ".aws" / "credentials").read_text()
    assert f"[corefs]\naws_access_key_id = {rs.KEY_ID}\naws_secret_access_key = {rs.SECRET}\n" \
        in text


# --- HTTP: nginx ---------------------------------------------------------------------------------

def test_nginx_range_etag_and_log(tmp_path):
    """nginx answers Range with 206 and the bytes, gives an ETag and Last-Modified (a new ETag when
    the file is replaced), and its log says the bytes each response sent; kill and restart."""
    data = os.urandom(1 << 20)
    with rs.HttpServer(tmp_path / "nginx", {"cores/core.1": data}) as web:
        def get(path, headers=None):
            conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            out = resp.status, dict(resp.getheaders()), resp.read()
            conn.close()
            return out

        status, h, body = get("/cores/core.1", {"Range": "bytes=100-4195"})
        assert (status, body, h["Content-Range"]) == (206, data[100:4196], "bytes 100-4195/1048576")
        assert h["ETag"] and h["Last-Modified"]
        assert get("/cores/core.1")[1]["Accept-Ranges"] == "bytes"
        assert get("/cores/core.1", {"Range": "bytes=-16"})[2] == data[-16:]
        assert get("/cores/none")[0] == 404
        log = web.requests()
        assert [(r.method, r.path, r.range, r.status, r.sent) for r in log] == [
            ("GET", "/cores/core.1", "bytes=100-4195", 206, 4096),
            ("GET", "/cores/core.1", None, 200, len(data)),
            ("GET", "/cores/core.1", "bytes=-16", 206, 16),
            ("GET", "/cores/none", None, 404, log[3].sent)]
        assert web.bytes_sent() == 4096 + len(data) + 16 + log[3].sent

        assert get("/cores/core.1", {"If-Match": '"other"'})[0] == 412
        web.replace("cores/core.1", data[::-1])
        status, h2, _ = get("/cores/core.1", {"Range": "bytes=0-0", "If-Range": h["ETag"]})
        assert h2["ETag"] != h["ETag"] and status == 200      # If-Range: the whole new file

        web.kill()
        with pytest.raises(OSError):
            get("/cores/core.1")
        web.restart()
        assert get("/cores/core.1", {"Range": "bytes=0-9"})[2] == data[::-1][:10]
