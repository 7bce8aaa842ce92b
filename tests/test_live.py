"""Each file of the mount tells the truth about the process that dumped.

tests/progs/witness.c is built in every variant (PIE, non-PIE, static, static-PIE; one thread or
four) and ended every way (SIGSEGV writing to address 0, SIGSEGV writing into a page it unmapped,
abort(), gcore while it waits).  Just before it dies it copies its own /proc/self files, records
its thread ids and the random bytes it wrote at known addresses (see the header of witness.c).
Those records, and gdb reading the same core, are the oracles; corefs's answers are read through
a real mount, as a user would: open, read, pread, readlink, stat.

What a core cannot know is listed in MAPS_UNKNOWABLE (and, for gdb's cores, GCORE_DIFFERENCES),
each with its reason; everything else must be byte-for-byte what the live process showed.
"""
import dataclasses
import difflib
import errno
import itertools
import json
import os
import pathlib
import re
import shutil
import signal
import stat
import subprocess

import pytest

from conftest import build_prog, crash, gcore_running, mounted, pt_loads

LINKS = {
    "pie": ("-fPIE", "-pie"),
    "nopie": ("-fno-pie", "-no-pie"),
    "static": ("-static",),
    "static-pie": ("-fPIE", "-static-pie"),
}
THREADS = (1, 4)
DEATHS = {"segv": signal.SIGSEGV, "hole": signal.SIGSEGV, "abort": signal.SIGABRT, "gcore": None}

# task/<tid>/regs on x86_64, in this order: the list, gdb's names.
X86_64_REGS = ("rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip eflags "
               "cs ss ds es fs gs fs_base gs_base orig_rax").split()

# coredump_filter bits (core(5)): which mappings' bytes a kernel core holds; gdb's gcore
# honours the same filter (set use-coredump-filter, on by default).
FILTER_ANON_SHARED = 1 << 1
FILTER_FILE_SHARED = 1 << 3


# --- the witness: build, run, kill, and what it wrote down ---------------------------------------

@dataclasses.dataclass
class Witness:
    name: str
    link: str
    nthreads: int
    death: str
    dir: pathlib.Path
    exe: pathlib.Path
    core: pathlib.Path
    record: dict
    siginfo: dict

    def live(self, name):
        return (self.dir / f"live-{name}").read_bytes()

    @property
    def gcore(self):
        return self.death == "gcore"

    @property
    def pid(self):
        return self.record["pid"]

    @property
    def tids(self):
        return sorted(self.record["tids"])

    @property
    def coredump_filter(self):
        return int(self.live("coredump_filter"), 16)


def parse_record(text):
    """witness.txt: pid, tids, mem patterns, the hole, shared mappings, anon names, fault."""
    rec = {"tids": [], "mem": {}, "shared": {}, "anon_names": [], "fault": None}
    for line in text.splitlines():
        key, *rest = line.split()
        if key == "pid":
            rec["pid"] = int(rest[0])
        elif key == "tid":
            rec["tids"].append(int(rest[0]))
        elif key == "mem":
            rec["mem"][rest[0]] = (int(rest[1], 16), bytes.fromhex(rest[2]))
        elif key == "hole":
            rec["hole"] = int(rest[0], 16)
        elif key == "shared":
            rec["shared"][rest[0]] = (int(rest[1], 16), int(rest[2], 16))
        elif key == "anon-name":
            rec["anon_names"].append((int(rest[0], 16), int(rest[1], 16), rest[2]))
        elif key == "fault":
            rec["fault"] = 0 if rest[0] == "(nil)" else int(rest[0], 16)
        else:
            raise AssertionError(f"witness.txt: unknown line {line!r}")
    return rec


def parse_siginfo(path):
    """siginfo.txt, written by witness's handler: 'signo N code N addr 0xA pid N uid N tid N'."""
    if not path.exists():
        return None
    words = path.read_text().split()
    return {k: int(v, 0) for k, v in zip(words[::2], words[1::2])}


@pytest.fixture(scope="session")
def witness_builds(tmp_path_factory):
    """One build of witness.c per link variant, made on first use."""
    root = tmp_path_factory.mktemp("witness-builds")
    built = {}

    def get(link):
        if link not in built:
            out = root / link
            out.mkdir()
            built[link] = build_prog("witness", out, *LINKS[link])
        return built[link]
    return get


CASES = [(link, n, death) for link, n, death in itertools.product(LINKS, THREADS, DEATHS)]


@pytest.fixture(scope="session", params=CASES, ids=[f"{l}-{n}t-{d}" for l, n, d in CASES])
def witness(request, witness_builds, tmp_path_factory):
    """One run of witness.c to its death, in its own directory: the core and its records."""
    link, nthreads, death = request.param
    name = f"{link}-{nthreads}t-{death}"
    cwd = tmp_path_factory.mktemp(name)
    # A name longer than 15 bytes: comm is the kernel's cut of it.
    exe = cwd / f"corefs-witness-{link}"
    shutil.copy2(witness_builds(link), exe)
    argv0 = f"./{exe.name}"     # relative to cwd: cmdline stays well under psargs's 80 bytes
    if death == "gcore":
        core = gcore_running(argv0, cwd, death, str(nthreads))
    else:
        core, _ = crash(argv0, cwd, death, str(nthreads), expect_signal=DEATHS[death])
    w = Witness(name, link, nthreads, death, cwd, exe, core,
                parse_record((cwd / "witness.txt").read_text()),
                parse_siginfo(cwd / "siginfo.txt"))
    assert len(w.tids) == nthreads and w.pid in w.tids
    assert (w.siginfo is None) == w.gcore, "the fatal-signal handler ran exactly when it died"
    return w


# --- reading the mount ---------------------------------------------------------------------------

def read(path):
    with open(path, "rb") as f:
        return f.read()


def regs_file(mnt, tid):
    """task/TID/regs: one 'name 0xhex' a line; returns [(name, value)] in file order."""
    out = []
    for line in read(mnt / "task" / str(tid) / "regs").decode().splitlines():
        m = re.fullmatch(r"([a-z][a-z0-9_]*) 0x([0-9a-f]+)", line)
        assert m, f"task/{tid}/regs: malformed line {line!r}"
        assert m[2] == "0" or not m[2].startswith("0"), f"leading zeros in {line!r}"
        out.append((m[1], int(m[2], 16)))
    return out


# --- maps: the kernel's line format, and what a core cannot know ---------------------------------

MAPS_RE = re.compile(r"([0-9a-f]{8,})-([0-9a-f]{8,}) ([r-][w-][x-][ps]) ([0-9a-f]{8,}) "
                     r"([0-9a-f]{2,}):([0-9a-f]{2,}) (\d+) ?(.*)")


@dataclasses.dataclass
class MapsLine:
    start: int
    end: int
    perms: str
    offset: int
    major: int
    minor: int
    inode: int
    name: str

    @classmethod
    def parse(cls, line):
        m = MAPS_RE.fullmatch(line)
        assert m, f"not a maps line: {line!r}"
        return cls(int(m[1], 16), int(m[2], 16), m[3], int(m[4], 16), int(m[5], 16),
                   int(m[6], 16), int(m[7]), m[8].lstrip(" "))

    def render(self):
        """As fs/proc/task_mmu.c show_map_vma prints it: the name padded to column 73."""
        head = (f"{self.start:08x}-{self.end:08x} {self.perms} {self.offset:08x} "
                f"{self.major:02x}:{self.minor:02x} {self.inode} ")
        return head if not self.name else head.ljust(25 + 8 * 6 - 1) + " " + self.name


def maps_lines(data):
    lines = data.decode().split("\n")
    assert lines[-1] == "", "maps must end with a newline"
    return [MapsLine.parse(line) for line in lines[:-1]]


def smaps_flags(data):
    """VmFlags of each mapping in /proc/PID/smaps, by start address."""
    flags, start = {}, None
    for line in data.decode().splitlines():
        m = MAPS_RE.fullmatch(line)
        if m:
            start = int(m[1], 16)
        elif line.startswith("VmFlags:"):
            flags[start] = set(line.split()[1:])
    return flags


def is_elf_file(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def shmem_path(name):
    """Paths of shmem-backed mappings, which are shared by construction."""
    return name == "/dev/zero (deleted)" or name.startswith("/SYSV")


# What no core can tell, each as (rule, reason, applies(live line, witness, context), expected
# line from the live one).  A field a core cannot know is taken from corefs's own line, so the
# comparison still checks every other field and the column alignment.
MAPS_UNKNOWABLE = [
    ("sharing flag",
     "a PT_LOAD has no shared/private bit; only shmem paths (/dev/zero (deleted), /SYSV...) "
     "say a mapping is shared",
     lambda live, w, ctx: live.perms[3] == "s" and not shmem_path(live.name),
     lambda live, got: dataclasses.replace(live, perms=live.perms[:3] + got.perms[3])),
    ("dev:inode of deleted files",
     "NT_FILE records paths only; a file that is gone (or a shmem object) cannot be stat'ed",
     lambda live, w, ctx: live.name.endswith(" (deleted)"),
     lambda live, got: dataclasses.replace(live, major=got.major, minor=got.minor,
                                           inode=got.inode)),
    ("anonymous mapping names",
     "PR_SET_VMA_ANON_NAME names live in the kernel's vma only; a core has no name for them",
     lambda live, w, ctx: live.name.startswith(("[anon:", "[anon_shmem:")),
     lambda live, got: dataclasses.replace(live, name="")),
]

# What gdb's gcore cores differ in, besides the above (gdb/gcore.c, gdb/linux-tdep.c).
GCORE_DIFFERENCES = [
    ("read bit",
     "gdb's make_output_phdrs sets PF_R on every segment it writes: PROT_NONE guard pages and "
     "the execute-only [vsyscall] come out readable",
     lambda live, w, ctx: live.perms[0] == "-" and ctx["has_load"](live),
     lambda live, got: dataclasses.replace(live, perms="r" + live.perms[1:])),
    ("VM_DONTDUMP mappings are left out",
     "gdb's should_dump_mapping_p skips mappings whose smaps VmFlags have 'dd' ([vvar], "
     "[vvar_vclock]): no segment and no NT_FILE entry, so the core has no trace of them",
     lambda live, w, ctx: "dd" in ctx["vmflags"].get(live.start, ()),
     lambda live, got: None),
    ("protections of file mappings gdb did not dump, when the file is not ELF",
     "gdb writes no segment for file mappings the coredump_filter excludes (e.g. MAP_SHARED "
     "files); NT_FILE has no protections, and only an ELF file's program headers can say them",
     lambda live, w, ctx: live.inode != 0 and not ctx["has_load"](live)
     and not is_elf_file(live.name),
     lambda live, got: dataclasses.replace(live, perms=got.perms[:3] + live.perms[3])),
]


def expected_maps(w, got_lines):
    """The live maps as a core can show them: [(expected line or None, rule names applied)],
    one per live line, for corefs's lines as matched by start address."""
    live = maps_lines(w.live("maps"))
    loads = pt_loads(w.core)
    ctx = {
        "vmflags": smaps_flags(w.live("smaps")),
        "has_load": lambda m: any(l.vaddr <= m.start < l.vaddr + l.memsz for l in loads),
    }
    rules = MAPS_UNKNOWABLE + (GCORE_DIFFERENCES if w.gcore else [])
    by_start = {g.start: g for g in got_lines}
    out = []
    for m in live:
        exp, applied = m, []
        for rule, _, applies, change in rules:
            if exp is not None and applies(m, w, ctx):
                # Without a line of corefs's at that address there is nothing to take an
                # unknowable field from: the line stays as it was, and the comparison fails.
                exp = change(exp, by_start.get(m.start, exp))
                applied.append(rule)
        out.append((exp, applied))
    return out


# --- gdb, the oracle for registers ---------------------------------------------------------------

def gdb_registers(w):
    """{tid: {name: value}} from gdb on the same core: `info registers` for every thread (gdb's
    default set), then the regs file's names asked for by name (orig_rax and, when gdb's
    default set leaves them out, fs_base/gs_base).  The two passes must agree."""
    marker = "=== by name ==="
    p = subprocess.run(
        ["gdb", "-batch", "-nx", "-ex", "set pagination off", "-ex", "info threads",
         "-ex", "thread apply all info registers", "-ex", f"echo {marker}\\n",
         "-ex", "thread apply all info registers " + " ".join(X86_64_REGS),
         str(w.exe), str(w.core)],
        capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    default_part, named_part = p.stdout.split(marker + "\n")
    header = re.compile(r"^Thread \d+ \(.*?\bLWP (\d+)\).*:$")
    info_threads = {int(t) for t in re.findall(r"^[ *] +\d+ +.*?\bLWP (\d+)\b", default_part,
                                               re.M)}

    def parse(text):
        regs, tid = {}, None
        for line in text.splitlines():
            m = header.match(line)
            if m:
                tid = int(m[1])
                assert tid not in regs, f"gdb printed thread {tid} twice"
                regs[tid] = {}
                continue
            m = re.match(r"^([a-z][a-z0-9_]*)\s+(0x[0-9a-f]+)\b", line)
            if m and tid is not None:
                regs[tid][m[1]] = int(m[2], 16)
        return regs
    default, named = parse(default_part), parse(named_part)
    assert set(default) == set(named) == info_threads, \
        f"gdb's threads: info threads {info_threads}, {set(default)}, {set(named)}\n{p.stdout}"
    for tid in default:
        for name in default[tid].keys() & named[tid].keys():
            assert default[tid][name] == named[tid][name], (tid, name)
        named[tid] = {**default[tid], **named[tid]}
    return named, default


# --- the tests -----------------------------------------------------------------------------------

def test_auxv_is_the_live_auxv(witness):
    with mounted(witness.core) as mnt:
        assert read(mnt / "auxv") == witness.live("auxv")


def test_maps_match_the_live_maps(witness):
    with mounted(witness.core) as mnt:
        got_text = read(mnt / "maps")
    got = maps_lines(got_text)
    live = maps_lines(witness.live("maps"))
    # The oracle's formatter is the kernel's: it renders every live line byte for byte.
    assert [m.render() for m in live] == witness.live("maps").decode().splitlines()

    # Every mapping the program named, when the kernel lets it (CONFIG_ANON_VMA_NAME).
    names = {m.start: m.name for m in live}
    for start, _, name in witness.record["anon_names"]:
        assert names[start] == f"[anon:{name}]"

    expected = expected_maps(witness, got)
    want = [e.render() for e, _ in expected if e is not None]
    allowed = "\n".join(f"  {m.render()}\n    -> {'absent' if e is None else e.render()}"
                        f"   [{', '.join(r)}]" for m, (e, r) in zip(live, expected) if r)
    diff = "\n".join(difflib.unified_diff(want, got_text.decode().splitlines(),
                                          "live, as a core can show it", "corefs", lineterm=""))
    assert got_text.decode().splitlines() == want, \
        f"maps differ from the live maps:\n{diff}\n(allowed differences applied:\n{allowed})"


def test_task_lists_the_live_tids(witness):
    live = sorted(int(t) for t in witness.live("task").split())
    assert live == witness.tids, "/proc/self/task and gettid() in each thread agree"
    with mounted(witness.core) as mnt:
        assert sorted(int(t) for t in os.listdir(mnt / "task")) == live
        for tid in live:
            assert stat.S_ISDIR(os.stat(mnt / "task" / str(tid)).st_mode)
            assert "regs" in os.listdir(mnt / "task" / str(tid))


def test_regs_are_gdbs_registers(witness):
    gdb, gdb_default = gdb_registers(witness)
    assert sorted(gdb) == witness.tids, "gdb sees the live threads"
    with mounted(witness.core) as mnt:
        for tid in witness.tids:
            regs = regs_file(mnt, tid)
            assert [name for name, _ in regs] == X86_64_REGS
            # Every register gdb prints by default that the regs file has, and the rest by name.
            shown = {n for n in gdb_default[tid] if n in X86_64_REGS}
            assert shown >= set(X86_64_REGS[:24]), f"gdb's default set: {sorted(gdb_default[tid])}"
            missing = [n for n in X86_64_REGS if n not in gdb[tid]]
            assert not missing, f"gdb knows no register named {missing} in thread {tid}"
            assert {n: hex(v) for n, v in regs} == {n: hex(gdb[tid][n]) for n in X86_64_REGS}, \
                f"task/{tid}/regs"


@pytest.mark.parametrize("opts", [(), ("--no-fill",)], ids=["fill", "no-fill"])
def test_mem_holds_what_the_program_wrote(witness, opts):
    """Every pattern at its address, read with pread on mem.  The bytes of the MAP_SHARED file
    are in the core only when coredump_filter says so (neither the kernel nor gcore dumps them
    by default); by default corefs fills file mappings the core left out from the very file,
    which here holds what the process wrote; with --no-fill such bytes are EIO."""
    rec = witness.record
    filt = witness.coredump_filter
    readable = {
        "shared-anon": bool(filt & FILTER_ANON_SHARED),
        "shared-file": bool(filt & FILTER_FILE_SHARED) or "--no-fill" not in opts,
    }
    expected_names = {"data", "bss", "heap", "stack", "mmap", "before-hole", "after-hole",
                      "shared-anon", "shared-file"} | {f"thread-stack-{t}" for t in witness.tids
                                                      if t != witness.pid}
    assert set(rec["mem"]) == expected_names
    with mounted(witness.core, *opts) as mnt:
        fd = os.open(mnt / "mem", os.O_RDONLY)
        try:
            for name, (addr, pattern) in sorted(rec["mem"].items()):
                if readable.get(name, True):
                    assert os.pread(fd, len(pattern), addr) == pattern, f"{name} at {addr:#x}"
                else:
                    with pytest.raises(OSError) as e:
                        os.pread(fd, len(pattern), addr)
                    assert e.value.errno == errno.EIO, f"{name} at {addr:#x} is not in the core"
            # The unmapped page: EIO at its first byte read.
            with pytest.raises(OSError) as e:
                os.pread(fd, 16, rec["hole"])
            assert e.value.errno == errno.EIO
            # A read that starts in held bytes and runs into the hole ends short at its edge.
            addr, pattern = rec["mem"]["before-hole"]
            assert os.pread(fd, 4 * len(pattern), addr) == pattern
        finally:
            os.close(fd)


def core_json(w):
    with mounted(w.core) as mnt:
        info = json.loads(read(mnt / "core.json"))
        maps = maps_lines(read(mnt / "maps"))
        regs = {tid: dict(regs_file(mnt, tid)) for tid in w.tids}
    return info, maps, regs


def test_core_json_process(witness):
    info, _, _ = core_json(witness)
    assert info["format"] == "elf64-little" and info["arch"] == "x86_64"
    assert info["pid"] == witness.pid
    assert info["exe"] == witness.live("exe").decode()
    assert info["cmdline"] == witness.live("cmdline").decode().split("\0")[:-1]
    assert info["comm"] == witness.live("comm").decode().rstrip("\n")


def test_core_json_signal(witness):
    sig = core_json(witness)[0]["signal"]
    if witness.gcore:
        assert sig is None, "gcore'd while running: no signal killed it"
        return
    si = witness.siginfo       # what the program's own handler was given
    assert sig["number"] == si["signo"] == DEATHS[witness.death]
    assert sig["name"] == signal.Signals(si["signo"]).name
    assert sig["code"] == si["code"]
    assert sig["tid"] == si["tid"]
    if si["signo"] == signal.SIGSEGV:
        assert int(sig["addr"], 16) == si["addr"] == witness.record["fault"]
    else:
        assert sig["addr"] is None, "SIGABRT carries no address"
        assert (sig["sender_pid"], sig["sender_uid"]) == (si["pid"], si["uid"]) == \
            (witness.pid, os.getuid())


def test_core_json_threads(witness):
    info, _, regs = core_json(witness)
    assert sorted(t["tid"] for t in info["threads"]) == witness.tids
    for t in info["threads"]:
        r = regs[t["tid"]]
        assert int(t["pc"], 16) == r["rip"] and int(t["sp"], 16) == r["rsp"], t["tid"]
        assert {n: int(v, 16) for n, v in t["regs"].items()} == r, t["tid"]
    main = [t for t in info["threads"] if t["tid"] == witness.pid]
    assert main[0]["name"] == witness.live("comm").decode().rstrip("\n")


def test_core_json_mappings(witness):
    """The mappings are the maps lines, and in_core_bytes is what the core's PT_LOADs hold
    there (their p_filesz, read from the program headers with struct)."""
    info, maps, _ = core_json(witness)
    assert [(int(m["start"], 16), int(m["end"], 16), m["perms"], int(m["offset"], 16),
             m["path"] or "") for m in info["mappings"]] == \
        [(m.start, m.end, m.perms, m.offset, m.name) for m in maps]
    loads = pt_loads(witness.core)
    for m in info["mappings"]:
        start, end = int(m["start"], 16), int(m["end"], 16)
        held = sum(l.filesz for l in loads if start <= l.vaddr < end)
        assert m["in_core_bytes"] == held, m


def test_comm(witness):
    with mounted(witness.core) as mnt:
        assert read(mnt / "comm") == witness.live("comm")


def test_exe(witness):
    with mounted(witness.core) as mnt:
        assert os.readlink(mnt / "exe") == witness.live("exe").decode()


def test_cmdline(witness):
    with mounted(witness.core) as mnt:
        assert read(mnt / "cmdline") == witness.live("cmdline")


def test_modes_sizes_and_read_only(witness):
    """Modes are the kernel's (core.json and regs repeat auxv and syscall: 0400), and the group
    and others keep no bit the core file does not give them read by."""
    modes = {"mem": 0o600, "auxv": 0o400, "maps": 0o444, "comm": 0o444, "cmdline": 0o444,
             "core.json": 0o400, f"task/{witness.pid}/regs": 0o400,
             f"task/{witness.pid}/stack": 0o400}
    core_mode = os.stat(witness.core).st_mode
    keep = 0o700 | (0o070 if core_mode & stat.S_IRGRP else 0) | \
        (0o007 if core_mode & stat.S_IROTH else 0)
    with mounted(witness.core) as mnt:
        for path, mode in modes.items():
            st = os.stat(mnt / path)
            assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == mode & keep, path
            if path != "mem":
                assert st.st_size == len(read(mnt / path)), f"st_size of {path}"
        assert stat.S_ISLNK(os.lstat(mnt / "exe").st_mode)
        for path in modes:
            for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC):
                with pytest.raises(OSError) as e:
                    os.close(os.open(mnt / path, flags))
                assert e.value.errno in (errno.EROFS, errno.EACCES), (path, flags)
        with pytest.raises(OSError) as e:
            os.close(os.open(mnt / "new-file", os.O_WRONLY | os.O_CREAT, 0o644))
        assert e.value.errno in (errno.EROFS, errno.EACCES)
