"""Files a core needs, fetched by build-id from debuginfod servers (issue 12): a core made where
its files were, read where they are not.

The program is tests/progs/bt_threads.c with its library bt_lib.c (four workers parked at
different depths, one inside a signal handler, the main thread dying inside the library), built
here with -g, each object carrying an FDO package note (`--package-metadata`), in three
variants: as built; stripped (`objcopy --only-keep-debug`, `strip --strip-all`) with its debug
files beside it; and stripped with call-frame tables only in .debug_frame
(-fno-asynchronous-unwind-tables -fno-unwind-tables), so only in the debug file.  Each dies into
a kernel core while every file is in place; then corefs is given a sysroot that lacks the files
(empty, or holding only some of them as links to the real ones), so it must fetch them.

The servers are real and started here on 127.0.0.1 (tests/debuginfod_server.py): Debian's
`debuginfod -F` over copies of the program's objects, the C library and the dynamic linker with
their debug files (libc6-dbg's, from /usr/lib/debug/.build-id); nginx serving debuginfod's URL
layout for a server that is slow (limit_rate) or serves the file of another build; a port where
nothing listens.  Each test has a cache of its own (DEBUGINFOD_CACHE_PATH), and every process
runs with only the DEBUGINFOD_* variables the test sets.

Oracles, none of them corefs: the files' own bytes (their PT_LOADs, placed where the core's
NT_FILE note, read by eu-readelf, says each file was mapped); eu-stack and gdb on the same core
with every file in place and DEBUGINFOD_URLS unset, on the unstripped build; readelf on the
files; the servers' logs of what was asked for and how many bytes were sent.  The stacks compare
as tests/test_stack.py compares them with eu-stack: every thread, every frame, same pc, same
name (eu-stack's symbol versions cut).
"""
import contextlib
import errno
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import threading

import pytest

import debuginfod_server as dbgd
from conftest import COREFS, PROGS, crash, force_unmount, mount_listed, pt_loads, wait_until
import test_stack
from test_stack import no_version, parse_stack
from test_revive import command, end_process, read_control, subreaper  # noqa: F401 (fixture)

PREFIX = "corefs: debuginfod: "
CFLAGS = ["-O2", "-Wall", "-fno-optimize-sibling-calls"]
VARIANTS = {
    "plain": dict(cflags=["-g"], strip=False),
    "stripped": dict(cflags=["-g", "-fomit-frame-pointer"], strip=True),
    "debugframe": dict(cflags=["-g", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables",
                               "-fno-unwind-tables"], strip=True),
}
PACKAGE = {
    "bt_threads": {"type": "deb", "name": "corefs-dbgd", "version": "1.0-1",
                   "architecture": "amd64", "os": "debian"},
    "libbt_lib.so": {"type": "rpm", "name": "corefs-dbgd-lib", "version": "2.5",
                     "architecture": "x86_64", "os": "fedora"},
}
PF_W = 2


def run(*cmd, env=None, check=True, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                       env=env or dbgd.env(), **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))}: exit {p.returncode}: {p.stderr}")
    return p


# --- what the core and the files say, without corefs ---------------------------------------------

def nt_file(core):
    """path -> [(start, end, file offset)] from the core's NT_FILE note (eu-readelf -n)."""
    out = {}
    text = run("eu-readelf", "-n", core).stdout
    for m in re.finditer(r"^\s+([0-9a-f]+)-([0-9a-f]+) ([0-9a-f]+) \d+\s+(/\S.*)$", text, re.M):
        out.setdefault(m[4], []).append((int(m[1], 16), int(m[2], 16), int(m[3], 16)))
    assert out, f"no NT_FILE in {core}"
    return out


def read_only_loads(path_in_core, elf, mappings):
    """[(address, bytes)] of every PT_LOAD of elf that the process could not write (text and
    read-only data): where NT_FILE says the file's offset 0 was mapped, plus the segment's
    vaddr, less the first segment's page."""
    loads = pt_loads(elf)
    base = min(s for s, e, off in mappings[path_in_core] if off == 0)
    bias = base - (min(ld.vaddr for ld in loads) & ~0xfff)
    data = pathlib.Path(elf).read_bytes()
    return [(bias + ld.vaddr, data[ld.offset:ld.offset + ld.filesz]) for ld in loads
            if not ld.flags & PF_W and ld.filesz]


def text_load(path_in_core, elf, mappings):
    """(address, bytes) of the executable PT_LOAD (PF_X) of elf."""
    loads = pt_loads(elf)
    base = min(s for s, e, off in mappings[path_in_core] if off == 0)
    bias = base - (min(ld.vaddr for ld in loads) & ~0xfff)
    ld = next(ld for ld in loads if ld.flags & 1)
    return bias + ld.vaddr, pathlib.Path(elf).read_bytes()[ld.offset:ld.offset + ld.filesz]


def eu_stack(core, exe):
    """tid -> [(pc, name or None)] from eu-stack with every file in place, no server
    (test_stack.eu_stack), names without their symbol versions."""
    return {tid: [(pc, name and no_version(name)) for pc, name in frames]
            for tid, frames in test_stack.eu_stack(core, exe).items()}


def gdb_backtraces(target, env):
    """pthread address -> gdb's `bt` lines of that thread, for `gdb EXE CORE` or `gdb -p PID`."""
    args = ["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off", "-ex",
            "set pagination off"]
    if target[0] == "-p":
        args += ["-ex", "handle SIGSTOP nostop noprint nopass"]
    p = subprocess.run([*args, "-ex", "thread apply all bt", *map(str, target)],
                       capture_output=True, text=True, timeout=180, env=env)
    header = re.compile(r"^Thread \d+ \(Thread (0x[0-9a-f]+) \(LWP \d+\)[^\n]*:$", re.M)
    parts = header.split(p.stdout)
    out = {}
    for i in range(1, len(parts), 2):
        out[parts[i]] = [re.sub(r"^#\d+\s+", "", f) for f in parts[i + 1].splitlines()
                         if f.startswith("#")]
    assert out and all(out.values()), f"gdb gave no backtraces: {p.stdout}\n{p.stderr}"
    return out


def sections(path):
    return set(re.findall(r"^\s*\[\s*\d+\]\s+(\S+)", run("readelf", "-SW", path).stdout, re.M))


# --- the program, its core and its server ---------------------------------------------------------

def build(d, cflags, package=True):
    """bt_threads and libbt_lib.so in d, each with its package note."""
    def pkg(name):
        if not package:
            return []
        return ["-Xlinker", "--package-metadata=" + json.dumps(PACKAGE[name],
                                                               separators=(",", ":"))]
    lib, exe = d / "libbt_lib.so", d / "bt_threads"
    run("gcc", *CFLAGS, *cflags, "-fPIC", "-shared", "-o", lib, PROGS / "bt_lib.c",
        *pkg(lib.name))
    run("gcc", *CFLAGS, *cflags, "-o", exe, PROGS / "bt_threads.c", "-L", d, "-lbt_lib",
        "-Wl,-rpath,$ORIGIN", "-pthread", *pkg(exe.name))
    return exe, lib


def debug_file(path):
    """This machine's separate debug file of an object (libc6-dbg's), None when there is none."""
    bid = dbgd.build_id(path)
    p = pathlib.Path(f"/usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug")
    return p if bid and p.exists() else None


class Dead:
    """A core of bt_threads, its files, the oracles taken with every file in place, and the
    debuginfod server holding its files (the variant's: stripped ones and debug files)."""

    def __init__(self, tmp, variant):
        v = VARIANTS[variant]
        self.dir = tmp
        self.exe, self.lib = build(tmp, v["cflags"])
        self.core, _ = crash(self.exe, tmp, "crash", expect_signal=signal.SIGSEGV)
        self.mappings = nt_file(self.core)
        assert {str(self.exe), str(self.lib)} <= set(self.mappings), self.mappings
        self.ids = {p: dbgd.build_id(p) for p in self.mappings}
        self.eu = eu_stack(self.core, self.exe)
        # What the server holds: the program's objects (stripped, and their debug files, for the
        # stripped variants), and every other mapped object with this machine's debug file.
        files = {}
        for path in self.mappings:
            if path in (str(self.exe), str(self.lib)) and v["strip"]:
                name = pathlib.Path(path).name
                stripped, debug = tmp / "server" / name, tmp / "server" / f"{name}.debug"
                stripped.parent.mkdir(exist_ok=True)
                run("objcopy", "--only-keep-debug", path, debug)
                run("strip", "--strip-all", "-o", stripped, path)
                files[name], files[f"{name}.debug"] = stripped, debug
            else:
                files[pathlib.Path(path).name] = path
                if debug_file(path):
                    files[pathlib.Path(path).name + ".debug"] = debug_file(path)
        self.served = files
        self.wanted = [(bid, "executable") for bid in self.ids.values()]
        self.wanted += [(self.ids[p], "debuginfo") for p in self.mappings
                        if (v["strip"] and p in self.own()) or debug_file(p)]
        self.server = self.serve(tmp / "debuginfod")

    def serve(self, workdir, without=()):
        """A debuginfod over the files (less those whose names start with one of without),
        once it answers for every one of them."""
        files = {n: p for n, p in self.served.items() if not n.startswith(tuple(without))}
        server = dbgd.Debuginfod(workdir, files)
        try:
            for bid, kind in self.wanted:
                if not any(dbgd.build_id(f) == bid for f in files.values()):
                    continue
                server.wait_for(bid, kind)
        except BaseException:
            server.stop()
            raise
        return server

    def own(self):
        return [str(self.exe), str(self.lib)]

    def empty_sysroot(self, tmp):
        root = tmp / "empty-sysroot"
        root.mkdir()
        return root

    def sysroot_without(self, tmp, *missing):
        """A sysroot holding every mapped file but those named, as links to the real ones, each
        with its debug file where this machine has one (usr/lib/debug/.build-id/xx/yyyy.debug)."""
        root = tmp / "sysroot"
        root.mkdir()
        for path in self.mappings:
            if path in map(str, missing):
                continue
            links = [(path, path)]
            if debug_file(path):
                links.append((debug_file(path), debug_file(path)))
            for src, at in links:
                dst = root / str(at).lstrip("/")
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(os.path.realpath(src), dst)
        return root


@pytest.fixture(scope="module")
def dead(tmp_path_factory):
    cache = {}

    def get(variant):
        if variant not in cache:
            cache[variant] = Dead(tmp_path_factory.mktemp(f"dbgd-{variant}"), variant)
        return cache[variant]
    yield get
    for d in cache.values():
        d.server.stop()


@pytest.fixture(scope="module")
def libs_server(dead, tmp_path_factory):
    """A debuginfod holding the C library and the dynamic linker (with debug files) but not the
    program's objects: it answers 404 for those."""
    d = dead("plain")
    with d.serve(tmp_path_factory.mktemp("dbgd-libs"), ("bt_threads", "libbt_lib")) as server:
        yield server


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


# --- corefs with a server -----------------------------------------------------------------------

class Mount:
    def __init__(self, path, proc):
        self.path, self.proc, self.stderr = path, proc, []

    def __truediv__(self, other):
        return self.path / other


@contextlib.contextmanager
def mounted(core, *opts, env):
    """conftest.mounted with an explicit environment, and stderr read as it comes (Mount.stderr):
    with -f corefs says what it fetches there, each line starting "corefs: debuginfod: ", and
    writes nothing else.  Unmounts, and requires a clean exit and no mount left."""
    mnt = pathlib.Path(tempfile.mkdtemp(prefix="corefs-dbgd-"))
    proc = subprocess.Popen([str(COREFS), "-f", *map(str, opts), str(core), str(mnt)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    m = Mount(mnt, proc)

    def reader():
        for line in proc.stderr:
            m.stderr.append(line.decode(errors="replace").rstrip("\n"))
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    failed = True
    try:
        wait_until(lambda: os.path.ismount(mnt) or proc.poll() is not None, "mounted")
        assert os.path.ismount(mnt), f"corefs exited {proc.returncode}: {m.stderr}"
        yield m
        failed = False
    finally:
        if os.path.ismount(mnt):
            if subprocess.run(["fusermount3", "-u", str(mnt)]).returncode != 0:
                force_unmount(mnt)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("corefs did not exit after unmount")
        t.join(timeout=10)
        if failed:
            wait_until(lambda: not mount_listed(mnt), f"{mnt} unmounted")
        mnt.rmdir()
    assert proc.returncode == 0, f"corefs exited {proc.returncode}: {m.stderr}"
    stray = [line for line in m.stderr if not line.startswith(PREFIX)]
    assert not stray, f"corefs wrote to stderr: {stray}"


def cat(core, path, *opts, env):
    """corefs --cat PATH CORE with an explicit environment."""
    return subprocess.run([str(COREFS), *map(str, opts), "--cat", path, str(core)],
                          capture_output=True, env=env, timeout=120)


def stacks(mnt):
    """tid -> frames of every thread, each read from task/<tid>/stack."""
    return {int(t): parse_stack((mnt / "task" / t / "stack").read_text())
            for t in os.listdir(mnt / "task")}


def same_as_eu_stack(ours, eu):
    assert sorted(ours) == sorted(eu)
    for tid, frames in ours.items():
        assert [(f.pc, f.name) for f in frames] == eu[tid], f"thread {tid}"


def read_mem(mnt, addr, size):
    fd = os.open(mnt / "mem", os.O_RDONLY)
    try:
        out = b""
        while len(out) < size:
            chunk = os.pread(fd, size - len(out), addr + len(out))
            if not chunk:
                break
            out += chunk
        return out
    finally:
        os.close(fd)


def mem_errno(mnt, addr, size):
    try:
        read_mem(mnt, addr, size)
    except OSError as e:
        return e.errno
    return 0


def files_of(j):
    return {f["path"]: f for f in j["files"]}


def parse_modules(text):
    """name -> (start, end, build-id@addr, status, package) from the modules file."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^0x([0-9a-f]+)-0x([0-9a-f]+) (\S+) (\S+) (\S+) (.+)$", line)
        assert m, f"not a modules line: {line!r}"
        out[m[6]] = (int(m[1], 16), int(m[2], 16), m[3], m[4], m[5])
    return out


def package_text(pkg):
    return f"{pkg['type']}:{pkg['name']}@{pkg['version']}"


def within(path, directory):
    return os.path.realpath(path).startswith(os.path.realpath(directory) + os.sep)


def main_tid(mnt):
    return int((mnt / "stat").read_text().split()[0])


# --- 1. everything from the server ----------------------------------------------------------------

def test_stacks_from_debuginfod_equal_eu_stack(dead, tmp_path, cache):
    """Every mapped file only on the server: every thread's stack is eu-stack's with the files
    in place; -f says what was fetched, on stderr lines of its own."""
    d = dead("plain")
    env = dbgd.env(urls=d.server.url, cache=cache)
    with mounted(d.core, f"--sysroot={d.empty_sysroot(tmp_path)}", env=env) as mnt:
        same_as_eu_stack(stacks(mnt), d.eu)
        progress = "\n".join(mnt.stderr)
    for path in (d.exe, d.lib):
        assert d.ids[str(path)] in progress or str(path) in progress, progress


def test_text_comes_from_the_fetched_files(dead, tmp_path, cache):
    """mem: the read-only PT_LOADs of the executable, the library and the C library are the
    files' own bytes (the kernel dumped none of their text); core.json says each came from the
    server, is the mapped file, and lies in DEBUGINFOD_CACHE_PATH, holding the file's bytes."""
    d = dead("plain")
    env = dbgd.env(urls=d.server.url, cache=cache)
    libc = next(p for p in d.mappings if os.path.basename(p).startswith("libc.so"))
    with mounted(d.core, f"--sysroot={d.empty_sysroot(tmp_path)}", env=env) as mnt:
        for path in (*d.own(), libc):
            for addr, data in read_only_loads(path, path, d.mappings):
                assert read_mem(mnt, addr, len(data)) == data, (path, hex(addr))
        j = json.loads((mnt / "core.json").read_text())
    files = files_of(j)
    for path in (*d.own(), libc):
        f = files[path]
        assert f["build_id"] == d.ids[path]
        assert (f["source"], f["status"]) == ("debuginfod", "same"), f
        assert f["debuginfod"]["state"] == "fetched", f
        assert f["debuginfod"]["url"].startswith(d.server.url), f
        assert within(f["disk_path"], cache), f
        assert pathlib.Path(f["disk_path"]).read_bytes() == pathlib.Path(path).read_bytes()
        assert f["local"]["status"] == "missing", f
        assert not any(path in p for p in j["problems"]), j["problems"]


def test_modules_pending_then_fetched_with_packages(dead, tmp_path, cache):
    """modules: in a mount where nothing needed them yet, the mapped files are `pending` and
    nothing was asked of the server; in one where every stack was read, the program's objects
    and the C library are `fetched`.  The package column is the JSON given to the linker
    (readelf -n shows it in the file) as TYPE:NAME@VERSION, `-` for objects without the note."""
    d = dead("plain")
    env = dbgd.env(urls=d.server.url, cache=cache)
    for path in d.own():
        notes = run("readelf", "-n", path).stdout
        assert json.dumps(PACKAGE[os.path.basename(path)], separators=(",", ":")) in notes, notes
    libc = next(p for p in d.mappings if os.path.basename(p).startswith("libc.so"))
    root = d.empty_sysroot(tmp_path)
    asked = len(d.server.requests())
    with mounted(d.core, f"--sysroot={root}", env=env) as mnt:
        before = parse_modules((mnt / "modules").read_text())
        assert len(d.server.requests()) == asked, "reading modules fetched something"
    with mounted(d.core, f"--sysroot={root}", env=env) as mnt:
        stacks(mnt)
        after = parse_modules((mnt / "modules").read_text())
    for state, mods in (("pending", before), ("fetched", after)):
        assert sorted(mods) == sorted([*d.mappings, "[vdso]"])
        for path in (*d.own(), libc):
            start, end, bid, status, pkg = mods[path]
            assert bid.split("@")[0] == d.ids[path]
            assert status == state, (path, mods[path])
            assert pkg == package_text(PACKAGE[os.path.basename(path)]) if path in d.own() \
                else pkg == "-", (path, pkg)
        assert all(v[4] == "-" for name, v in mods.items() if name not in d.own()), mods


def test_modules_read_again_after_a_fetch(dead, tmp_path, cache):
    """One mount: modules read before the stacks says `pending`, read again after them
    `fetched` (what the file said first is not kept past the fetch)."""
    d = dead("plain")
    env = dbgd.env(urls=d.server.url, cache=cache)
    with mounted(d.core, f"--sysroot={d.empty_sysroot(tmp_path)}", env=env) as mnt:
        before = parse_modules((mnt / "modules").read_text())
        stacks(mnt)
        after = parse_modules((mnt / "modules").read_text())
    for path in d.own():
        assert (before[path][3], after[path][3]) == ("pending", "fetched"), (before, after)


# --- 2. stripped files: names and call-frame tables from the debug files --------------------------

@pytest.mark.parametrize("variant", ["stripped", "debugframe"])
def test_stripped_files_and_their_debug_files(dead, tmp_path, cache, variant):
    """The server holds the stripped objects and their debug files: names come from the debug
    files' .symtab (the stripped ones have none), and for the debugframe build the call-frame
    tables of the program's own functions from the debug files' .debug_frame (the stripped ones
    have no .debug_frame, and their .eh_frame covers only the C start files): every stack is
    eu-stack's on the unstripped build."""
    d = dead(variant)
    for name in ("bt_threads", "libbt_lib.so"):
        assert ".symtab" not in sections(d.served[name]) and \
            ".debug_frame" not in sections(d.served[name])
        assert ".symtab" in sections(d.served[name + ".debug"])
        if variant == "debugframe":
            assert ".debug_frame" in sections(d.served[name + ".debug"])
    env = dbgd.env(urls=d.server.url, cache=cache)
    with mounted(d.core, f"--sysroot={d.empty_sysroot(tmp_path)}", env=env) as mnt:
        same_as_eu_stack(stacks(mnt), d.eu)
        j = json.loads((mnt / "core.json").read_text())
    files = files_of(j)
    for path in d.own():
        f = files[path]
        assert (f["source"], f["status"]) == ("debuginfod", "same"), f
        info = f["debuginfo"]
        assert info["state"] == "fetched" and info["url"].startswith(d.server.url), f
        assert within(info["path"], cache), f
        name = os.path.basename(path)
        assert pathlib.Path(info["path"]).read_bytes() == \
            pathlib.Path(d.served[name + ".debug"]).read_bytes()
    for t in j["threads"]:
        assert t["stack_end"] == "the outermost frame", (t["tid"], t["stack_end"])


@pytest.mark.parametrize("variant", ["stripped", "debugframe"])
def test_local_debug_files_under_the_sysroot(dead, tmp_path, cache, variant):
    """No server (--no-debuginfod): the sysroot holds the stripped objects at their paths and
    their debug files where a distribution puts them, usr/lib/debug/.build-id/xx/yyyy.debug (and
    every other mapped file with its own): every stack is eu-stack's on the unstripped build, and
    core.json says each debug file was found there."""
    d = dead(variant)
    root = tmp_path / "sysroot"
    for path in d.mappings:
        name, bid = os.path.basename(path), d.ids[path]
        for src, at in ((d.served[name], path),
                        (d.served.get(name + ".debug"), f"/usr/lib/debug/.build-id/{bid[:2]}/"
                                                        f"{bid[2:]}.debug")):
            if src is None:
                continue
            dst = root / at.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            if path in d.own():
                shutil.copyfile(src, dst)
            else:
                os.symlink(os.path.realpath(src), dst)
    env = dbgd.env(urls=d.server.url, cache=cache)
    asked = len(d.server.requests())
    with mounted(d.core, "--no-debuginfod", f"--sysroot={root}", env=env) as mnt:
        same_as_eu_stack(stacks(mnt), d.eu)
        j = json.loads((mnt / "core.json").read_text())
    assert len(d.server.requests()) == asked
    for path in d.own():
        f = files_of(j)[path]
        assert (f["source"], f["status"]) == ("sysroot", "same"), f
        assert f["debuginfo"]["state"] == "local" and within(f["debuginfo"]["path"], root), f


# --- 3. revival -----------------------------------------------------------------------------------

def test_revival_maps_the_fetched_text(dead, tmp_path, cache):
    """The executable and the library only on the server: the revived process's text is their
    bytes (read from /proc/PID/mem), and gdb attached to it shows every thread's backtrace as
    gdb shows it on the core with the files in place."""
    d = dead("plain")
    oracle_env = dbgd.env()
    core_bt = gdb_backtraces([d.exe, d.core], oracle_env)
    env = dbgd.env(urls=d.server.url, cache=cache)
    sysroot = d.sysroot_without(tmp_path, d.exe, d.lib)
    with mounted(d.core, f"--sysroot={sysroot}", env=env) as mnt:
        err = command(mnt.path, "revive")
        ctl = read_control(mnt.path)
        assert err == 0, f"revive failed ({os.strerror(err)}): {ctl}"
        pid = int(ctl["pid"][0])
        try:
            fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
            try:
                for path in d.own():
                    addr, data = text_load(path, path, d.mappings)
                    assert os.pread(fd, len(data), addr) == data, path
            finally:
                os.close(fd)
            live_bt = gdb_backtraces(["-p", pid], oracle_env)
            assert sorted(live_bt) == sorted(core_bt)
            for key, frames in core_bt.items():
                assert live_bt[key] == frames, f"thread {key}"
        finally:
            end_process(pid, mnt.path)


# --- 4. failures ----------------------------------------------------------------------------------

def check_failed(j, path, why_re):
    """The file is not used, its fetch failed with a reason matching why_re, and a problem
    sentence names the file, debuginfod and that reason."""
    f = files_of(j)[path]
    assert f["source"] is None and f["status"] != "same", f
    assert f["debuginfod"]["state"] == "failed", f
    why = f["debuginfod"]["why"]
    assert why and re.search(why_re, why), f
    sentences = [p for p in j["problems"] if path in p and "debuginfod" in p]
    assert len(sentences) == 1 and why in sentences[0], (j["problems"], why)
    return why


def no_names_in(frames, paths):
    for f in frames:
        if f.module in paths:
            assert f.name is None, f


def test_server_down(dead, tmp_path, cache):
    """A server that is not there (a port nothing listens on): stacks and mem come back, the
    files missing (frame #0 from the registers, nothing named in them, their text EIO), each
    fetch failed with its reason."""
    d = dead("plain")
    env = dbgd.env(urls=f"http://127.0.0.1:{dbgd.free_port()}", cache=cache,
                   DEBUGINFOD_TIMEOUT=30)
    with mounted(d.core, f"--sysroot={d.empty_sysroot(tmp_path)}", env=env) as mnt:
        ours = stacks(mnt)
        for path in d.own():
            addr, data = text_load(path, path, d.mappings)
            assert mem_errno(mnt, addr, len(data)) == errno.EIO, path
        j = json.loads((mnt / "core.json").read_text())
    assert sorted(ours) == sorted(d.eu)
    for tid, frames in ours.items():
        assert frames[0].pc == d.eu[tid][0][0], tid
        no_names_in(frames, d.mappings)
    libc = next(p for p in d.mappings if os.path.basename(p).startswith("libc.so"))
    for path in (*d.own(), libc):
        check_failed(j, path, r"(?i)connect|refused|could not|couldn't")


def test_server_without_the_files(dead, libs_server, tmp_path, cache):
    """A server holding the C library but not the program's objects: the C library is fetched
    (threads parked in read(2) show it named as eu-stack does), the program's objects fail with
    the server's answer, once: reading again asks nothing more (libdebuginfod's own memory of
    the 404s, empty files in the cache, is removed first, so a second attempt would reach the
    server)."""
    d = dead("plain")
    env = dbgd.env(urls=libs_server.url, cache=cache)
    with mounted(d.core, f"--sysroot={d.empty_sysroot(tmp_path)}", env=env) as mnt:
        first = stacks(mnt)
        addr, data = text_load(str(d.exe), d.exe, d.mappings)
        assert mem_errno(mnt, addr, len(data)) == errno.EIO
        asked = {p: libs_server.requests(d.ids[p], "executable") for p in d.own()}
        assert all(len(r) == 1 and r[0][2] == 404 for r in asked.values()), asked
        for p in d.own():
            shutil.rmtree(cache / d.ids[p])
        (mnt / "stack").read_text()
        assert mem_errno(mnt, addr, len(data)) == errno.EIO
        assert {p: libs_server.requests(d.ids[p], "executable") for p in d.own()} == asked
        j = json.loads((mnt / "core.json").read_text())
    libc = next(p for p in d.mappings if os.path.basename(p).startswith("libc.so"))
    assert files_of(j)[libc]["source"] == "debuginfod"
    in_libc = 0
    for tid, frames in first.items():
        no_names_in(frames, d.own())
        if frames[0].module == libc:
            assert (frames[0].pc, frames[0].name) == d.eu[tid][0], tid
            in_libc += 1
    assert in_libc >= 3, first
    for path in d.own():
        check_failed(j, path, r"(?i)404|not found|no server has it|no such file")


def padded(src, dst, size):
    """A copy of src made size bytes long with zeros at its end: the same ELF file and build-id,
    slower to send."""
    data = pathlib.Path(src).read_bytes()
    assert len(data) < size
    pathlib.Path(dst).write_bytes(data + bytes(size - len(data)))
    return dst


@pytest.mark.parametrize("rate,size", [("1k", 256 << 10), ("200k", 8 << 20)],
                         ids=["trickle", "steady"])
def test_slow_server_gives_up_at_debuginfod_timeout(dead, tmp_path, cache, rate, size):
    """nginx sending the library slowly, with DEBUGINFOD_TIMEOUT=2: the read returns EIO, the
    reason says the time ran out, the server's log shows the transfer was cut short (fewer bytes
    sent than the file), and it was asked once.  "trickle": 1 KiB/s, which libcurl itself gives
    up on (libdebuginfod asks it for 100 KiB/s over DEBUGINFOD_TIMEOUT); "steady": 200 KiB/s of
    an 8 MiB file, fast enough for libcurl, so only corefs's own bound on the whole fetch
    stops it."""
    d = dead("plain")
    bid = d.ids[str(d.lib)]
    big = padded(d.lib, tmp_path / "lib.padded", size)
    with dbgd.Nginx(tmp_path / "nginx", {(bid, "executable"): big}, rate=rate) as slow:
        env = dbgd.env(urls=slow.url, cache=cache, DEBUGINFOD_TIMEOUT=2)
        sysroot = d.sysroot_without(tmp_path, d.lib)
        with mounted(d.core, f"--sysroot={sysroot}", env=env) as mnt:
            addr, data = text_load(str(d.lib), d.lib, d.mappings)
            assert mem_errno(mnt, addr, len(data)) == errno.EIO
            main = parse_stack((mnt / "task" / str(main_tid(mnt)) / "stack").read_text())
            j = json.loads((mnt / "core.json").read_text())
        wait_until(lambda: slow.requests(bid), "nginx logged the cut transfer")
        (req,) = slow.requests(bid, "executable")
    assert req[3] < big.stat().st_size, req
    no_names_in(main, [str(d.lib)])
    check_failed(j, str(d.lib), r"(?i)time|gave up")


def test_a_file_of_another_build_is_refused(dead, tmp_path, cache):
    """nginx serving, under the library's build-id, the library of another build: corefs checks
    the build-id of what it got, refuses it and says so; the library's text is EIO (not the
    other build's bytes) and nothing in it is named."""
    d = dead("plain")
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    _, other = build(other_dir, ["-g", "-O1"])
    bid, other_bid = d.ids[str(d.lib)], dbgd.build_id(other)
    assert other_bid != bid
    with dbgd.Nginx(tmp_path / "nginx", {(bid, "executable"): other}) as wrong:
        env = dbgd.env(urls=wrong.url, cache=cache)
        sysroot = d.sysroot_without(tmp_path, d.lib)
        with mounted(d.core, f"--sysroot={sysroot}", env=env) as mnt:
            addr, data = text_load(str(d.lib), d.lib, d.mappings)
            assert mem_errno(mnt, addr, len(data)) == errno.EIO
            main = parse_stack((mnt / "task" / str(main_tid(mnt)) / "stack").read_text())
            j = json.loads((mnt / "core.json").read_text())
        assert [r[2] for r in wrong.requests(bid, "executable")] == [200]
    no_names_in(main, [str(d.lib)])
    why = check_failed(j, str(d.lib), r"build-id")
    assert other_bid in why, why


# --- 5. lazy and shared ---------------------------------------------------------------------------

def test_mounting_fetches_nothing(dead, tmp_path, cache):
    """Mounting and reading maps, status, cmdline, stat and environ ask the server nothing and
    leave the cache without a file; the first stack read does ask."""
    d = dead("plain")
    env = dbgd.env(urls=d.server.url, cache=cache)
    asked = len(d.server.requests())
    with mounted(d.core, f"--sysroot={d.empty_sysroot(tmp_path)}", env=env) as mnt:
        for name in ("maps", "status", "cmdline", "stat", "environ"):
            (mnt / name).read_bytes()
        assert len(d.server.requests()) == asked
        assert not any(ids in (p.name for p in cache.glob("*")) for ids in d.ids.values())
        assert mnt.stderr == [], "nothing fetched, nothing to say"
        (mnt / "task" / str(main_tid(mnt)) / "stack").read_text()
        assert len(d.server.requests()) > asked


def test_other_files_are_served_while_a_fetch_waits(dead, tmp_path, cache):
    """While the main thread's stack waits for the library from a slow server, maps and status
    are read to their end: they finish before the stack read does (an order, not a time)."""
    d = dead("plain")
    bid = d.ids[str(d.lib)]
    big = padded(d.lib, tmp_path / "lib.padded", 256 << 10)
    with dbgd.Nginx(tmp_path / "nginx", {(bid, "executable"): big}, rate="1k") as slow:
        env = dbgd.env(urls=slow.url, cache=cache, DEBUGINFOD_TIMEOUT=4)
        sysroot = d.sysroot_without(tmp_path, d.lib)
        with mounted(d.core, f"--sysroot={sysroot}", env=env) as mnt:
            tid = main_tid(mnt)
            done = []

            def read_stack():
                (mnt / "task" / str(tid) / "stack").read_text()
                done.append("stack")
            t = threading.Thread(target=read_stack)
            t.start()
            wait_until(lambda: any(line.startswith(PREFIX) for line in mnt.stderr) or done,
                       "corefs said it fetches")
            assert not done and not slow.requests(bid, "executable"), "the fetch was not held up"
            (mnt / "maps").read_bytes()
            done.append("maps")
            (mnt / "status").read_bytes()
            done.append("status")
            t.join(timeout=60)
            assert not t.is_alive()
    assert done == ["maps", "status", "stack"]


def test_two_readers_one_fetch(dead, tmp_path, cache):
    """The main thread's stack and the library's text in mem, read at once while the library
    comes slowly (32 KiB at 16 KiB/s): one request for it, both readers get it (the stack as
    eu-stack's, the text as the file's bytes), and later readers ask nothing more."""
    d = dead("plain")
    bid = d.ids[str(d.lib)]
    big = padded(d.lib, tmp_path / "lib.padded", 32 << 10)
    with dbgd.Nginx(tmp_path / "nginx", {(bid, "executable"): big}, rate="16k") as slow:
        env = dbgd.env(urls=slow.url, cache=cache, DEBUGINFOD_TIMEOUT=60)
        sysroot = d.sysroot_without(tmp_path, d.lib)
        with mounted(d.core, f"--sysroot={sysroot}", env=env) as mnt:
            tid = main_tid(mnt)
            addr, data = text_load(str(d.lib), d.lib, d.mappings)
            got = {}

            def read_stack():
                got["stack"] = parse_stack((mnt / "task" / str(tid) / "stack").read_text())

            def read_text():
                got["mem"] = read_mem(mnt, addr, len(data))
            a = threading.Thread(target=read_stack)
            a.start()
            wait_until(lambda: any(line.startswith(PREFIX) for line in mnt.stderr) or got,
                       "corefs said it fetches")
            assert not got and not slow.requests(bid, "executable"), \
                "the fetch was over before the second reader came"
            b = threading.Thread(target=read_text)
            b.start()
            a.join(timeout=60)
            b.join(timeout=60)
            assert [(f.pc, f.name) for f in got["stack"]] == d.eu[tid]
            assert got["mem"] == data
            assert len(slow.requests(bid, "executable")) == 1, slow.requests()
            (mnt / "stack").read_text()
            assert read_mem(mnt, addr, len(data)) == data
            j = json.loads((mnt / "core.json").read_text())
        assert [r[2] for r in slow.requests(bid, "executable")] == [200]
    for path, f in files_of(j).items():
        if path == str(d.lib):
            assert (f["source"], f["status"], f["debuginfod"]["state"]) == \
                ("debuginfod", "same", "fetched"), f
        else:
            assert (f["source"], f["status"]) == ("sysroot", "same"), f
            assert "debuginfod" not in f, f


# --- 6. the switches and the cache ----------------------------------------------------------------

def test_no_debuginfod_fetches_nothing(dead, tmp_path, cache):
    """--no-debuginfod with DEBUGINFOD_URLS set: nothing asked, the files missing, core.json says
    fetching is off."""
    d = dead("plain")
    env = dbgd.env(urls=d.server.url, cache=cache)
    asked = len(d.server.requests())
    with mounted(d.core, "--no-debuginfod", f"--sysroot={d.empty_sysroot(tmp_path)}",
                 env=env) as mnt:
        ours = stacks(mnt)
        addr, data = text_load(str(d.exe), d.exe, d.mappings)
        assert mem_errno(mnt, addr, len(data)) == errno.EIO
        j = json.loads((mnt / "core.json").read_text())
    assert len(d.server.requests()) == asked
    for frames in ours.values():
        no_names_in(frames, d.mappings)
    for path in d.own():
        f = files_of(j)[path]
        assert f["source"] is None and (f.get("debuginfod") or {}).get("state") == "off", f


def test_debuginfod_option_without_environment(dead, tmp_path, cache):
    """--debuginfod=URL with DEBUGINFOD_URLS unset: fetched as with the variable."""
    d = dead("plain")
    env = dbgd.env(cache=cache)
    with mounted(d.core, f"--debuginfod={d.server.url}", f"--sysroot={d.empty_sysroot(tmp_path)}",
                 env=env) as mnt:
        same_as_eu_stack(stacks(mnt), d.eu)
        j = json.loads((mnt / "core.json").read_text())
    for path in d.own():
        assert files_of(j)[path]["source"] == "debuginfod"


def test_warm_cache_serves_with_the_server_stopped(dead, tmp_path, cache):
    """--cat with a server of its own: DEBUGINFOD_PROGRESS makes --cat say what it fetches;
    then the server is stopped and the same cache serves the same stacks, eu-stack's, silently."""
    d = dead("plain")
    root = d.empty_sysroot(tmp_path)
    with d.serve(tmp_path / "own") as server:
        env = dbgd.env(urls=server.url, cache=cache)
        quiet = cat(d.core, "stack", f"--sysroot={root}", env=env)
        assert quiet.returncode == 0 and quiet.stderr == b"", quiet.stderr
        shutil.rmtree(cache)
        first = cat(d.core, "stack", f"--sysroot={root}", env=dict(env, DEBUGINFOD_PROGRESS="1"))
        assert first.returncode == 0, first.stderr
        lines = first.stderr.decode().splitlines()
        assert lines and all(line.startswith(PREFIX) for line in lines), lines
    assert server.proc.poll() is not None
    warm = cat(d.core, "stack", f"--sysroot={root}", env=env)
    assert warm.returncode == 0 and warm.stderr == b"", warm.stderr
    assert warm.stdout == first.stdout == quiet.stdout
    blocks = warm.stdout.decode()[:-1].split("\n\n")
    ours = {}
    for block in blocks:
        header, _, lines = block.partition("\n")
        ours[int(re.match(r"^TID (\d+) ", header)[1])] = parse_stack(lines)
    same_as_eu_stack(ours, d.eu)
    j = json.loads(cat(d.core, "core.json", f"--sysroot={root}", env=env).stdout)
    for path in d.own():
        f = files_of(j)[path]
        assert f["source"] == "debuginfod" and within(f["disk_path"], cache), f
