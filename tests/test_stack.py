"""Backtraces (task/<tid>/stack), loaded objects (modules) and their parts of core.json, against
oracles that do not use corefs: the program's own knowledge, eu-stack, gdb and eu-unstrip on the
same cores, and the elfutils cores of the shared corpus with their EXPECTED.md lists.

The programs (tests/progs/bt_threads.c with its library bt_lib.c, and bt_cxx.cc) are built in
five variants: with call-frame tables and frame pointers, with tables and without frame pointers,
the second with its executable stripped (names gone, .eh_frame kept), the second with its tables
only in .debug_frame (-fno-asynchronous-unwind-tables -g: .eh_frame holds only the C library's
start files' records), and without any call-frame table (-fno-asynchronous-unwind-tables, no -g
so no .debug_frame either) but with frame pointers;
each is dumped by the kernel (a crash inside the library) and by gdb's gcore.

Normalisations, all of them:
* eu-stack prints a symbol's version where .symtab spells it ("__libc_start_main@@GLIBC_2.34");
  corefs cuts it.  eu-stack prints no name where no symbol holds the pc; corefs prints "??".
  Nothing else: every thread, every frame, same pc, same name.
* gdb is driven through its Python API (what `thread apply all bt` prints, with past-main and
  past-entry on).  It shows calls inlined by the compiler as frames of their own (INLINE_FRAME:
  dropped here; eu-stack without -i and corefs name a frame by its containing function) and the
  signal trampoline as "<signal handler called>" (SIGTRAMP_FRAME; corefs: "[signal frame]").  gdb
  names functions from DWARF where there is debug information, so two names are the same
  function when equal, when corefs's equals gdb's after cutting GCC's clone suffixes
  (".constprop.0", ".isra.0", ".part.0", ".cold") or a C++ parameter list, or when both are
  symbols at one address of the same object (nm of the file and of its build-id debug file:
  pause and __libc_pause, __clone3 and clone3).  Where no symbol holds a pc (corefs "??") gdb
  may name the symbol before it: such frames are compared by pc only.  In the C library gdb
  unwinds pthread_kill with one frame more than eu-stack and corefs (a cold fragment,
  __pthread_kill_esrch), so gdb is compared frame for frame on the program's own objects (with
  the signal frames between them), and name for name on every frame both give at the same pc.
  gdb is not compared on the variant without call-frame tables: its prologue analysis goes wrong
  there (above a function with locals it makes a frame of a stack address and stops; above a
  thread's first function it loses start_thread), where eu-stack, the program and corefs agree.
* eu-unstrip -n lists the objects whose headers are in the core; corefs also lists those whose
  headers come from a file on this machine that files.c presumes to be the mapped one (status
  "presumed"), left out of the comparison.  eu-unstrip extends the executable and the vDSO (found
  from the core's segments) to the end of their last page (4 to 64 KiB by machine); corefs ends
  every object where its last PT_LOAD ends.  The vDSO is "[vdso]" for corefs, its soname for
  eu-unstrip; other names compare by their last path component.
"""
import collections
import functools
import json
import os
import pathlib
import re
import signal
import subprocess

import pytest

from conftest import CORPUS, PROGS, corefs_cat, corpus_files, crash, mounted

PAGE = 4096
CFLAGS = ["-O2", "-Wall", "-fno-optimize-sibling-calls"]
VARIANTS = {
    "cfi-fp": dict(cflags=["-g", "-fno-omit-frame-pointer"], strip=False),
    "cfi-nofp": dict(cflags=["-g", "-fomit-frame-pointer"], strip=False),
    "stripped": dict(cflags=["-g", "-fomit-frame-pointer"], strip=True),
    "debugframe-nofp": dict(cflags=["-g", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables",
                                    "-fno-unwind-tables"], strip=False),
    "nocfi-fp": dict(cflags=["-g0", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer",
                             "-fno-asynchronous-unwind-tables", "-fno-unwind-tables"], strip=False),
}
PRODUCERS = ["kernel", "gcore"]
CASES = [(v, p) for v in VARIANTS for p in PRODUCERS]
ENV = dict(os.environ, DEBUGINFOD_URLS="", LC_ALL="C")

GDB_SCRIPT = r'''
import gdb, json
gdb.execute("set backtrace past-main on")
gdb.execute("set backtrace past-entry on")
out = {}
for th in gdb.selected_inferior().threads():
    th.switch()
    frames, f = [], gdb.newest_frame()
    while f is not None and len(frames) < 1024:
        frames.append({"pc": f.pc(), "name": f.name(), "inline": f.type() == gdb.INLINE_FRAME,
                       "sigtramp": f.type() == gdb.SIGTRAMP_FRAME})
        f = f.older()
    out[th.ptid[1]] = frames
print("JSON" + json.dumps(out))
'''

Frame = collections.namedtuple("Frame", "pc name offset module signal guessed")
STACK_LINE = re.compile(r"^#(\d+) 0x([0-9a-f]+) (\?\?|.*\+0x[0-9a-f]+) \((.*)\)"
                        r"( \[signal frame\])?(?: \[guessed: (frame pointer)\])?$")


def parse_stack(text):
    frames = []
    for i, line in enumerate(text.splitlines()):
        m = STACK_LINE.match(line)
        assert m, f"not a frame line: {line!r}"
        assert int(m[1]) == i, f"frame numbers out of order: {line!r}"
        name, offset = (None, None) if m[3] == "??" else m[3].rsplit("+0x", 1)
        frames.append(Frame(int(m[2], 16), name, None if offset is None else int(offset, 16),
                            None if m[4] == "??" else m[4], bool(m[5]), m[6]))
    return frames


def guesses(js):
    """What the stack file must say of each frame of core.json's stack: a caller is a
    frame-pointer guess exactly when its callee had no call-frame table ("no-cfi") and was no
    signal trampoline (whose caller comes from the saved registers); frame #0 never is."""
    return [None] + ["frame pointer" if "no-cfi" in c["flags"] and "signal" not in c["flags"]
                     else None for c in js[:-1]]


def run(*cmd, cwd=None, check=True):
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env=ENV)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))}: exit {p.returncode}: {p.stderr}")
    return p


# --- making the cores ---------------------------------------------------------------------------

class Made:
    """A core of a test program and what the test knows about it."""

    def __init__(self, d, exe, core, full=None):
        self.dir, self.exe, self.core, self.full = d, exe, core, full or exe
        self.lib = d / "libbt_lib.so"

    def expect(self):
        """bt-expect.txt: tid -> the program's own functions, innermost first."""
        out = {}
        for line in (self.dir / "bt-expect.txt").read_text().splitlines():
            tid, *names = line.split()
            out[int(tid)] = names
        return out

    def own(self, module):
        return module is not None and os.path.realpath(module) in (
            os.path.realpath(self.exe), os.path.realpath(self.lib))


def build_threads(d, variant):
    v = VARIANTS[variant]
    flags = CFLAGS + v["cflags"]
    run("gcc", *flags, "-fPIC", "-shared", "-o", d / "libbt_lib.so", PROGS / "bt_lib.c")
    run("gcc", *flags, "-o", d / "bt_threads", PROGS / "bt_threads.c", "-L", d, "-lbt_lib",
        "-Wl,-rpath,$ORIGIN", "-pthread")
    full = None
    if v["strip"]:
        full = d / "bt_threads.full"
        run("cp", d / "bt_threads", full)
        run("strip", "--strip-all", d / "bt_threads")
    return d / "bt_threads", full


def gcore(exe, d, *args):
    """Run exe until it prints "ready", dump it with gdb's gcore, kill it."""
    p = subprocess.Popen([str(exe), *args], cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        line = p.stdout.readline()
        assert line.strip() == "ready", f"{exe} said {line!r}: {p.stderr.read()}"
        run("gcore", "-o", d / "core", p.pid)
    finally:
        p.send_signal(signal.SIGKILL)
        p.communicate()
    return d / f"core.{p.pid}"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    cache = {}

    def get(variant, producer):
        if (variant, producer) not in cache:
            d = tmp_path_factory.mktemp(f"bt-{variant}-{producer}")
            exe, full = build_threads(d, variant)
            if producer == "kernel":
                core, _ = crash(exe, d, "crash", expect_signal=signal.SIGSEGV)
            else:
                core = gcore(exe, d, "gcore")
            cache[variant, producer] = Made(d, exe, core, full)
        return cache[variant, producer]
    return get


# --- reading corefs and the oracles -------------------------------------------------------------

def corefs_stacks(core, *opts):
    """tid -> frames, read through the mount; and core.json."""
    with mounted(core, *opts) as mnt:
        cj = json.loads((mnt / "core.json").read_text())
        stacks = {}
        for t in cj["threads"]:
            f = mnt / "task" / str(t["tid"]) / "stack"
            text = f.read_text()
            assert f.stat().st_size == len(text.encode())
            stacks[t["tid"]] = parse_stack(text)
        modules = (mnt / "modules").read_text()
    return stacks, cj, modules


def eu_stack(core, exe):
    """tid -> [(pc, name or None)] from eu-stack."""
    p = run("eu-stack", "--core", core, "--executable", exe, check=False)
    out, tid = {}, None
    for line in p.stdout.splitlines():
        if m := re.match(r"^TID (\d+):$", line):
            tid = int(m[1])
            out[tid] = []
        elif m := re.match(r"^#(\d+)\s+0x([0-9a-f]+)(?:\s+(\S.*))?$", line):
            name = m[3]
            out[tid].append((int(m[2], 16), None if name in (None, "??") else name))
    assert out, f"eu-stack gave nothing: {p.stderr}"
    return out


def gdb_stacks(core, exe, tmp):
    script = tmp / "gdb_bt.py"
    script.write_text(GDB_SCRIPT)
    p = run("gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off", "-ex",
            f"python exec(open({str(script)!r}).read())", exe, core, check=False)
    for line in p.stdout.splitlines():
        if line.startswith("JSON"):
            return {int(k): v for k, v in json.loads(line[4:]).items()}
    raise AssertionError(f"gdb gave no frames: {p.stdout[-2000:]} {p.stderr[-2000:]}")


def no_version(name):
    return name.split("@", 1)[0] if name else name


@functools.lru_cache(maxsize=None)
def symbol_addresses(path):
    """name -> addresses, from nm of an object and of its build-id debug file (binutils)."""
    files = [path]
    notes = run("readelf", "-n", path, check=False).stdout
    if m := re.search(r"Build ID: ([0-9a-f]+)", notes):
        debug = pathlib.Path(f"/usr/lib/debug/.build-id/{m[1][:2]}/{m[1][2:]}.debug")
        if debug.exists():
            files.append(str(debug))
    names = collections.defaultdict(set)
    for f in files:
        for opt in ([], ["-D"]):
            for line in run("nm", *opt, "--defined-only", f, check=False).stdout.splitlines():
                parts = line.split()
                if len(parts) == 3:
                    names[no_version(parts[2])].add(int(parts[0], 16))
    return names


CLONE_SUFFIX = re.compile(r"(\.(constprop|isra|part|cold|lto_priv)(\.\d+)?)+$")


def cxx_base(name):
    """A demangled C++ name without its parameter list: what gdb's frame.name() gives."""
    depth = 0
    for i, ch in enumerate(name):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0 and i:
            return name[:i]
    return name


def same_function(ours, theirs, module):
    if ours == theirs:
        return True
    if ours is None or theirs is None:
        return False
    plain = CLONE_SUFFIX.sub("", ours)
    if theirs in (plain, cxx_base(plain)):
        return True
    syms = symbol_addresses(module) if module and os.path.exists(module) else {}
    return bool(syms.get(ours, set()) & syms.get(theirs, set()))


def own_frames(m, frames):
    """The program's own frames, "<signal>" for a signal frame between them."""
    return ["<signal>" if f.signal else f.name for f in frames if f.signal or m.own(f.module)]


def addr2line(m, pc):
    """The function at pc in the unstripped executable (elfutils' addr2line over the core)."""
    p = run("eu-addr2line", "-f", "--core", m.core, "-e", m.full, hex(pc))
    return p.stdout.splitlines()[0]


# --- the test programs --------------------------------------------------------------------------

@pytest.mark.parametrize("variant,producer", CASES)
def test_own_frames_as_the_program_knows_them(made, variant, producer):
    """Every thread's frames in the program's own objects, in order, named as the program says
    (bt-expect.txt); the stripped executable's are named here by eu-addr2line on the unstripped
    copy, and corefs must have no name for them."""
    m = made(variant, producer)
    stacks, _, _ = corefs_stacks(m.core)
    expect = m.expect()
    assert sorted(stacks) == sorted(expect)
    for tid, frames in stacks.items():
        own = own_frames(m, frames)
        if VARIANTS[variant]["strip"]:
            named = []
            for i, f in enumerate(frames):
                if f.signal:
                    named.append("<signal>")
                elif m.own(f.module):
                    in_exe = os.path.realpath(f.module) == os.path.realpath(m.exe)
                    if in_exe:
                        assert f.name is None, f"stripped executable named {f.name} ({tid})"
                    # a return address is looked up inside its call
                    pc = f.pc if i == 0 or frames[i - 1].signal else f.pc - 1
                    named.append(addr2line(m, pc) if in_exe else f.name)
            own = named
        if "main" in own:
            own = own[:own.index("main") + 1]  # below main: the C runtime's _start (crt1.o)
        assert own == expect[tid], f"thread {tid}: {own} != {expect[tid]}"


@pytest.mark.parametrize("variant,producer", CASES)
def test_stacks_equal_eu_stack(made, variant, producer):
    """Every thread, every frame: the same pc and the same name as eu-stack's."""
    m = made(variant, producer)
    stacks, _, _ = corefs_stacks(m.core)
    eu = eu_stack(m.core, m.exe)
    assert sorted(stacks) == sorted(eu)
    for tid, frames in stacks.items():
        ours = [(f.pc, f.name) for f in frames]
        theirs = [(pc, no_version(name)) for pc, name in eu[tid]]
        assert ours == theirs, f"thread {tid}"


@pytest.mark.parametrize("variant,producer", [c for c in CASES if not c[0].startswith("nocfi")])
def test_stacks_agree_with_gdb(made, variant, producer, tmp_path):
    """gdb's frames in the program's objects (and its signal frames) are corefs's, in order,
    same pc, same function; and wherever gdb and corefs have a frame at the same pc, they name
    the same function."""
    m = made(variant, producer)
    stacks, _, _ = corefs_stacks(m.core)
    gdb = gdb_stacks(m.core, m.exe, tmp_path)
    assert sorted(stacks) == sorted(gdb)
    for tid, frames in stacks.items():
        theirs = [f for f in gdb[tid] if not f["inline"]]
        ours_own = [(f.pc, "<signal>" if f.signal else f.name) for f in frames
                    if f.signal or m.own(f.module)]
        own_pcs = {f.pc for f in frames if m.own(f.module)}
        gdb_own = [(f["pc"], "<signal>" if f["sigtramp"] else f["name"]) for f in theirs
                   if f["sigtramp"] or f["pc"] in own_pcs]
        assert [pc for pc, _ in ours_own] == [pc for pc, _ in gdb_own], f"thread {tid}"
        for (pc, ours), (_, name) in zip(ours_own, gdb_own):
            module = next(f.module for f in frames if f.pc == pc)
            assert ours == name or same_function(ours, name, module), (tid, hex(pc), ours, name)
        by_pc = {f["pc"]: f for f in theirs}
        compared = 0
        for f in frames:
            g = by_pc.get(f.pc)
            # where no symbol holds the pc (corefs "??"), gdb may give the symbol before it
            if g and not g["sigtramp"] and not f.signal and f.name is not None:
                compared += 1
                assert same_function(f.name, g["name"], f.module), \
                    (tid, hex(f.pc), f.name, g["name"])
        assert compared >= len([x for x in ours_own if x[1]]), f"thread {tid}: few frames shared"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_frame_flags(made, variant):
    """core.json's stack is the stack file's; "signal" marks the frame gdb calls the signal
    trampoline, "no-cfi" the frames no call-frame table covers: every own frame when the program
    has no tables, none of them when it has."""
    m = made(variant, "kernel")
    stacks, cj, _ = corefs_stacks(m.core)
    nocfi = variant.startswith("nocfi")
    guessed = 0
    own_names = {n for names in m.expect().values() for n in names} - {"<signal>"}
    for t in cj["threads"]:
        frames = stacks[t["tid"]]
        js = t["stack"]
        assert [int(f["pc"], 16) for f in js] == [f.pc for f in frames]
        assert [f["symbol"] for f in js] == [f.name for f in frames]
        assert [f["module"] for f in js] == [f.module for f in frames]
        assert [None if f["offset"] is None else int(f["offset"], 16) for f in js] == \
            [f.offset for f in frames]
        assert [("signal" in f["flags"]) for f in js] == [f.signal for f in frames]
        assert [f.guessed for f in frames] == guesses(js)
        if nocfi:
            guessed += sum(f.guessed is not None for f in frames)
        assert t["stack_end"] == "the outermost frame", t["stack_end"]
        for f, fj in zip(frames, js):
            if f.name in own_names:
                assert ("no-cfi" in fj["flags"]) == nocfi, (t["tid"], fj)
        sp = [int(f["sp"], 16) for f in js]
        assert sp == sorted(sp), f"stack pointers not growing outwards: {sp}"
    signals = [t["tid"] for t in cj["threads"] if any("signal" in f["flags"] for f in t["stack"])]
    assert signals == [tid for tid, names in m.expect().items() if "<signal>" in names]
    if nocfi:
        assert guessed > 0, "a program without tables unwound with no frame-pointer guess"


def eu_unstrip(core):
    """start -> (end, build-id@addr, name) from eu-unstrip -n --core."""
    out = {}
    for line in run("eu-unstrip", "-n", "--core", core, check=False).stdout.splitlines():
        f = line.split()
        if f and f[0].startswith("0x"):
            start, size = (int(x, 16) for x in f[0].split("+"))
            out[start] = (start + size, f[1], f[-1])
    return out


def parse_modules(text, package=False):
    """start -> (end, build-id@addr or "-", status, name) from the modules file; with package,
    (end, build-id@addr, status, package or "-", name)."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^0x([0-9a-f]+)-0x([0-9a-f]+) (\S+) (\S+) (\S+) (.+)$", line)
        assert m, f"not a modules line: {line!r}"
        out[int(m[1], 16)] = (int(m[2], 16), m[3], m[4], *([m[5]] if package else []), m[6])
    return out


def check_modules_against_eu_unstrip(ours, theirs, exact):
    """exact: the same objects; else every object corefs lists is one eu-unstrip lists."""
    mine = {s: v for s, v in ours.items() if v[2] != "presumed"}
    if exact:
        assert sorted(mine) == sorted(theirs), (ours, theirs)
    for start, (end, bid, status, name) in mine.items():
        assert start in theirs, f"{name} at {start:#x} not in eu-unstrip's list {theirs}"
        t_end, t_bid, t_name = theirs[start]
        assert bid == t_bid, name
        assert t_end == end or (t_end > end and t_end - end < 0x10000 and t_end % PAGE == 0), \
            f"{name}: end {end:#x}, eu-unstrip {t_end:#x}"
        if name == "[vdso]":
            assert status == "core"
        elif not (name.startswith("[") or t_name.startswith("[")):
            assert os.path.basename(name) == os.path.basename(t_name), (name, t_name)


@pytest.mark.parametrize("producer", PRODUCERS)
def test_modules_equal_eu_unstrip(made, producer):
    """modules: the objects eu-unstrip -n --core finds, same start, build-id, end and name; each
    file on disk is the mapped one ("same"); core.json's modules are the same objects."""
    m = made("cfi-fp", producer)
    _, cj, text = corefs_stacks(m.core)
    ours = parse_modules(text)
    check_modules_against_eu_unstrip(ours, eu_unstrip(m.core), exact=True)
    for start, (end, bid, status, name) in ours.items():
        assert status in ("same", "core"), (name, status)
    assert {os.path.realpath(n) for _, _, _, n in ours.values() if n.startswith("/")} >= \
        {os.path.realpath(m.exe), os.path.realpath(m.lib)}
    js = {int(x["start"], 16): x for x in cj["modules"]}
    assert sorted(js) == sorted(ours)
    for start, (end, bid, status, name) in ours.items():
        x = js[start]
        assert (int(x["end"], 16), x["file"], x["name"]) == (end, status, name)
        assert bid == (f"{x['build_id']}@{x['build_id_addr']}" if x["build_id"] else "-")
        assert x["symbols"] in ("symtab", "debug-symtab", "dynsym"), x


def test_stack_files_without_mount_equal_mount(made):
    """`corefs --cat` renders the same bytes the mount serves."""
    m = made("cfi-fp", "kernel")
    with mounted(m.core) as mnt:
        for t in sorted(os.listdir(mnt / "task")):
            path = f"task/{t}/stack"
            assert corefs_cat(m.core, path).stdout == (mnt / path).read_bytes()
        assert corefs_cat(m.core, "modules").stdout == (mnt / "modules").read_bytes()


def test_missing_files_leave_frames_unnamed(made, tmp_path):
    """With --sysroot pointing nowhere, the mapped files are missing: the kernel core has no text,
    so frame #0 still comes from the registers, its object from the core's headers, and no frame
    gets a name it cannot prove (no symbol table: "??")."""
    m = made("cfi-fp", "kernel")
    stacks, cj, text = corefs_stacks(m.core, f"--sysroot={tmp_path}")
    for st in parse_modules(text).values():
        assert st[2] in ("missing", "core"), st
    for t in cj["threads"]:
        frames = stacks[t["tid"]]
        assert frames[0].pc == int(t["pc"], 16)
        for f in frames:
            assert f.name is None or f.module == "[vdso]", f


# --- C++ ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cxx(tmp_path_factory):
    d = tmp_path_factory.mktemp("bt-cxx")
    exe = d / "bt_cxx"
    run("g++", *CFLAGS, "-g", "-o", exe, PROGS / "bt_cxx.cc", "-pthread")
    core, _ = crash(exe, d, expect_signal=signal.SIGSEGV)
    return exe, core


def test_cxx_names_demangled(cxx, tmp_path):
    """C++ frames are demangled: as eu-stack prints them, as c++filt (binutils) demangles the
    mangled symbol at the frame's function address, and as gdb names them (without parameters)."""
    exe, core = cxx
    stacks, _, _ = corefs_stacks(core)
    eu = eu_stack(core, exe)
    gdb = gdb_stacks(core, exe, tmp_path)
    mangled = {}
    for line in run("nm", "--defined-only", exe).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].startswith("_Z"):
            mangled[int(parts[0], 16)] = parts[2]
    load = min(int(x.split("-")[0], 16) for x in corefs_cat(core, "modules").stdout.decode()
               .splitlines() if x.endswith(str(exe)))
    seen_cxx = 0
    for tid, frames in stacks.items():
        assert [(f.pc, f.name) for f in frames] == [(pc, no_version(n)) for pc, n in eu[tid]]
        by_pc = {g["pc"]: g for g in gdb[tid] if not g["inline"]}
        for f in frames:
            if f.module != str(exe) or f.name is None:
                continue
            sym = mangled.get(f.pc - f.offset - load)
            if sym:
                seen_cxx += 1
                assert f.name == run("c++filt", sym).stdout.strip()
            assert cxx_base(f.name) == by_pc[f.pc]["name"], (f.name, by_pc[f.pc]["name"])
    assert seen_cxx >= 6, "the C++ frames were not found"


# --- the shared corpus ----------------------------------------------------------------------------

def expected_sections():
    md = (CORPUS / "EXPECTED.md").read_text()
    parts = re.split(r"^### `([^`]+)`\n", md, flags=re.M)
    out = {}
    for i in range(1, len(parts), 2):
        if m := re.search(r"```json\n(.*?)\n```", parts[i + 1], re.S):
            line = re.search(r"Companion files: (.*)", parts[i + 1])
            companions = re.findall(r"`([^`]+)`", line[1]) if line else []
            out[parts[i]] = (json.loads(m[1]), companions)
    return out


SECTIONS = expected_sections() if (CORPUS / "EXPECTED.md").is_file() else {}
BT_KEY = "backtrace (eu-stack 0.188, with the companion executable)"
BACKTRACES = sorted(p for p, (e, _) in SECTIONS.items() if BT_KEY in e)
# testfile62 is a kernel crash dump: corefs refuses it (test_corpus.py checks how).
MODULES = sorted(p for p, (e, _) in SECTIONS.items()
                 if "modules (eu-unstrip -n)" in e and p != "elfutils/cores/testfile62")
# Cores whose programs Go compiled (call-frame tables in .debug_frame only): eu-stack stops at
# Go's signal return stub, which it looks up one byte back, where no table covers it (a last
# frame without a name); corefs recognises the stub as a signal frame, names it by its exact pc
# and goes on to the code the signal interrupted (tests/test_real_go.py checks those frames).
GO_SIGRETURN = {"golang-debug/gocore-1.19/tmp/coretest/core": "runtime.sigreturn.abi0"}


def with_sysroot(path, tmp):
    """Decompress a core and its companion files into a sysroot, at the paths NT_FILE names them
    by: a companion whose base name a mapped path has goes there, the other one (the executable,
    which the corpus renames) to the executable's path."""
    exp, companions = SECTIONS[path]
    core, *comp = corpus_files(tmp, path, *companions)
    cj = json.loads(corefs_cat(core, "core.json").stdout)
    sysroot = tmp / "sysroot"
    sysroot.mkdir()
    mapped = {m["path"] for m in cj["mappings"] if m["path"] and m["path"].startswith("/")}
    by_name = {os.path.basename(t): t for t in mapped}
    for c in comp:
        target = by_name.get(c.name) or cj["exe"]
        if target:
            dst = sysroot / target.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                os.symlink(c, dst)
    return core, sysroot, exp, cj


# eu-stack names a frame by an ARM mapping symbol ("$x": A64 code follows) where no function
# symbol is nearer; corefs's symbol tables leave mapping symbols out and name the function.
MAPPING_SYMBOL = re.compile(r"^\$[xatd](\..*)?$")


def same_name(ours, theirs):
    return ours == no_version(theirs) or (MAPPING_SYMBOL.match(theirs) and
                                          not ours.startswith("0x"))


@pytest.mark.parametrize("path", BACKTRACES)
def test_corpus_backtraces(path, tmp_path):
    """The functions EXPECTED.md lists for every thread (eu-stack with the companion
    executable), for every machine: x86_64 and x32 by libunwind, the others by libdwfl.  The
    whole list ("0x..." is a frame without a name).  Cores without NT_FILE (the s390, s390x and
    sparc cores) name no file for their executable, so corefs has no call-frame table for it:
    frame #0 only, from the registers, unnamed."""
    core, sysroot, exp, cj = with_sysroot(path, tmp_path)
    expected = {int(t): names for t, names in exp[BT_KEY].items()}
    stacks, cj, _ = corefs_stacks(core, f"--sysroot={sysroot}")
    assert set(expected) <= set(stacks)
    for tid, names in expected.items():
        frames = stacks[tid]
        ours = [f.name if f.name else hex(f.pc) for f in frames]
        end = next(t["stack_end"] for t in cj["threads"] if t["tid"] == tid)
        if not cj["exe"]:
            # no NT_FILE: nothing names the executable's file
            t = next(t for t in cj["threads"] if t["tid"] == tid)
            assert frames[0].pc == int(t["pc"], 16) and frames[0].name is None, (tid, ours)
        elif path in GO_SIGRETURN and names[-1].startswith("0x"):
            n = len(names)
            assert ours[:n - 1] == names[:-1] and ours[n - 1] == GO_SIGRETURN[path], \
                (tid, ours, names)
            assert frames[n - 1].signal and frames[n - 1].pc == int(names[-1], 16)
        else:
            assert len(ours) == len(names) and all(map(same_name, ours, names)), \
                (tid, ours, names, end)


@pytest.mark.parametrize("path", MODULES)
def test_corpus_modules(path, tmp_path):
    """modules against EXPECTED.md's eu-unstrip -n list: the same objects for cores with NT_FILE;
    without it (objects found through AT_PHDR and the dynamic linker's list), every object corefs
    lists is one eu-unstrip lists."""
    exp, _ = SECTIONS[path]
    (core,) = corpus_files(tmp_path, path)
    cj = json.loads(corefs_cat(core, "core.json").stdout)
    theirs = {}
    for line in exp["modules (eu-unstrip -n)"]:
        f = line.split()
        if f and f[0].startswith("0x"):
            start, size = (int(x, 16) for x in f[0].split("+"))
            theirs[start] = (start + size, f[1], f[-1])
    ours = parse_modules(corefs_cat(core, "modules").stdout.decode())
    has_nt_file = any(n["type"] == "NT_FILE" for n in cj["notes"])
    check_modules_against_eu_unstrip(ours, theirs, exact=has_nt_file)
