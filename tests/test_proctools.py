"""A directory of cores mounts as a /proc of dead processes that /proc tools read unchanged.

tests/progs/pt_proc.c copies what the live /proc says about it (its stat, status, statm, smaps,
... and each thread's) just before it dies.  Three runs make a directory of cores: two kernel
cores (one with three threads, nice 5 and a name with a space and a ')', one run as uid 65534)
and one gcore core of a two-threaded run.  The directory is mounted once (`corefs DIR MNT`).

The oracles are the live copies and the tools themselves: psutil with PROCFS_PATH set to the
mount, prometheus process-exporter scraped over loopback, and procps (ps, pmap, pgrep) run
through contrib/corefs-proc.  Each file is also checked field by field against the live copy:
the fields a core cannot know are listed below with the reason, and only those may differ.
"""
import contextlib
import dataclasses
import os
import pathlib
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.request

import pytest

from conftest import PROJECT_ROOT, build_prog, crash, gcore_running, mounted, pt_loads

COREFS_PROC = PROJECT_ROOT / "contrib" / "corefs-proc"
EXPORTER = shutil.which("prometheus-process-exporter") or "/usr/bin/prometheus-process-exporter"
PAGE = os.sysconf("SC_PAGE_SIZE")
HZ = os.sysconf("SC_CLK_TCK")
PF_DUMPCORE, PF_SIGNALED = 0x200, 0x400


# --- the dead processes ----------------------------------------------------------------------

@dataclasses.dataclass
class Dead:
    """One run of pt_proc: its core (in the shared directory) and what it copied from /proc."""
    label: str
    dir: pathlib.Path
    core: pathlib.Path
    gcore: bool
    status: int            # the wait status it died with (0 for gcore: it was killed later)

    def live(self, name):
        return (self.dir / f"live-{name}").read_bytes()

    def live_task(self, tid, name):
        return (self.dir / f"live-task-{tid}-{name}").read_bytes()

    @property
    def tids(self):
        return [int(t) for t in self.live("tids").split()]

    @property
    def pid(self):
        return self.tids[0]

    @property
    def comm(self):
        return self.live("comm").decode().rstrip("\n")


@pytest.fixture(scope="module")
def dead(tmp_path_factory):
    """The runs, their cores moved into one directory: {label: Dead}, and the directory."""
    root = tmp_path_factory.mktemp("proctools")
    cores = root / "cores"
    cores.mkdir()
    build = root / "build"
    build.mkdir()
    exe = build_prog("pt_proc", build)
    runs = {}

    def run(label, death, nthreads, *extra, world_writable=False):
        cwd = root / label
        cwd.mkdir()
        if world_writable:      # a process of another uid writes its core and copies here
            cwd.chmod(0o777)
        prog = cwd / label      # the command name, when not set with prctl
        shutil.copy2(exe, prog)
        prog.chmod(0o755)
        if death == "gcore":
            core, status = gcore_running(f"./{label}", cwd, death, str(nthreads), *extra), 0
        else:
            core, p = crash(f"./{label}", cwd, death, str(nthreads), *extra,
                            expect_signal=signal.SIGSEGV if death == "segv" else signal.SIGABRT)
            status = -p.returncode | 0x80
        dst = cores / f"{'gcore' if death == 'gcore' else 'core'}.{label}"
        core.rename(dst)
        runs[label] = Dead(label, cwd, dst, death == "gcore", status)

    run("pt-threads", "segv", 3, "pt a) b", "5")
    run("pt-nobody", "abort", 1, "-", "0", "65534", world_writable=True)
    run("pt-gcore", "gcore", 2)
    (cores / "notes.txt").write_text("not a core: ignored\n")
    assert len({d.pid for d in runs.values()}) == len(runs)
    return runs, cores


@pytest.fixture(scope="module")
def mnt(dead):
    with mounted(dead[1]) as m:
        yield m


def read(path):
    with open(path, "rb") as f:
        return f.read()


# --- parsing the formats -----------------------------------------------------------------------

def stat_fields(data):
    """The 52 fields of a stat line; the comm is what lies between the first '(' and the last
    ')', as the kernel documents parsing it."""
    text = data.decode()
    assert text.endswith("\n") and text.count("\n") == 1
    head, _, tail = text[:-1].rpartition(")")
    pid, _, comm = head.partition(" (")
    fields = [pid, comm] + tail.split(" ")[1:]
    assert tail.startswith(" ") and len(fields) == 52, f"{len(fields)} fields: {text!r}"
    return fields


def status_fields(data):
    """[(key, value)] of a status file, in order."""
    out = []
    for line in data.decode().split("\n")[:-1]:
        key, sep, value = line.partition(":")
        assert sep, f"not a status line: {line!r}"
        out.append((key, value))
    return out


SMAPS_HEADER = re.compile(r"([0-9a-f]+)-([0-9a-f]+) ([-r][-w][-x][ps]) ")


def smaps_blocks(data):
    """[(header line, [(field, value)])] of smaps."""
    blocks = []
    for line in data.decode().split("\n")[:-1]:
        if SMAPS_HEADER.match(line):
            blocks.append((line, []))
        else:
            key, _, value = line.partition(":")
            blocks[-1][1].append((key, value))
    return blocks


def kb(value):
    number, unit = value.split()
    assert unit == "kB"
    return int(number) * 1024


def held_bytes(core, off, size):
    """Bytes of [off, off + size) of the file that are data, not holes (SEEK_DATA/SEEK_HOLE)."""
    fd = os.open(core, os.O_RDONLY)
    try:
        total, pos, end = 0, off, off + size
        while pos < end:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            if data >= end:
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            total += min(hole, end) - data
            pos = hole
        return total
    finally:
        os.close(fd)


def nonzero_bytes(core, off, vaddr, size):
    """Bytes of the memory pages of [vaddr, vaddr + size) (held at off in the file) with a byte
    other than zero."""
    total = 0
    with open(core, "rb") as f:
        f.seek(off)
        data = f.read(size)
    first = vaddr - vaddr % PAGE
    for page in range(first, vaddr + len(data), PAGE):
        lo, hi = max(page, vaddr) - vaddr, min(page + PAGE, vaddr + len(data)) - vaddr
        if data[lo:hi] != bytes(hi - lo):
            total += PAGE
    return total


def core_rss(d):
    """{vaddr: resident bytes} of each PT_LOAD: in a kernel core, what it holds as data (the
    kernel writes absent pages as holes), rounded up to pages; in a gcore core, its pages that
    are not all zeros (gdb writes an untouched page as zeros: README, smaps)."""
    if d.gcore:
        return {l.vaddr: nonzero_bytes(d.core, l.offset, l.vaddr, l.filesz)
                for l in pt_loads(d.core)}
    return {l.vaddr: -(-held_bytes(d.core, l.offset, l.filesz) // PAGE) * PAGE
            for l in pt_loads(d.core)}


def mm_rss(d):
    """What the mm's counters would hold: every mapping but the gate area ([vsyscall] is the
    kernel's, not a VMA of the process: maps shows it, the counters leave it out)."""
    gate = {s for s, _, _, name in live_maps(d) if name == "[vsyscall]"}
    return sum(v for vaddr, v in core_rss(d).items() if vaddr not in gate)


def regs(mnt, pid, tid):
    out = {}
    for line in read(mnt / str(pid) / "task" / str(tid) / "regs").decode().splitlines():
        name, value = line.split()
        out[name] = int(value, 16)
    return out


def death_ticks(core):
    st = os.stat(core)
    return st.st_mtime_ns // (10**9 // HZ)


# --- what a core cannot know, file by file ------------------------------------------------------

# stat: field number (1-based, as proc(5)) -> why it may differ from the live copy.
STAT_UNKNOWABLE = {
    3: "state: a dead process is X (dead); the live copy was taken while running",
    7: "tty_nr: the controlling terminal is not in a core (0)",
    8: "tpgid: no terminal, so -1",
    9: "flags: the leader's as the core records them (the kernel adds PF_DUMPCORE and "
       "PF_SIGNALED while dumping); a thread's are not recorded (0)",
    10: "minflt: fault counters are not in a core",
    11: "cminflt", 12: "majflt", 13: "cmajflt",
    14: "utime: the core's, at death, not at the copy", 15: "stime: likewise",
    22: "starttime: a core does not record it; the time of death (the core's mtime) stands "
        "in, in ticks since btime 0",
    24: "rss: the pages the core holds as data (a gcore core's: those not all zeros), not the "
        "resident set",
    25: "rsslim: limits are not in a core",
    29: "kstkesp: the kernel shows it for dumping and exiting tasks only; the core's sp",
    30: "kstkeip: likewise, the core's pc",
    31: "signal: pending signals at death", 32: "blocked: at death",
    33: "sigignore: dispositions are not in a core", 34: "sigcatch: likewise",
    35: "wchan: 0, nothing is known of the kernel function",
    38: "exit_signal: not in a core (0)",
    39: "processor: not in a core; cpu0 of the one-CPU /proc/stat",
    52: "exit_code: the wait status of its death (signal | 0x80, core dumped); 0 for gcore",
}
START_BRK_WITHOUT_HEAP = ("start_brk: randomized at exec; a core shows it as the start of "
                          "[heap], and a process that never grew its heap has none (0)")
# gdb's gcore writes no [vvar]/[vvar_vclock] segment (VM_DONTDUMP), so they are not counted.
GCORE_STAT_DIFFERENCES = {23: "vsize: without [vvar] and [vvar_vclock], which gcore skips"}

# status: lines that may differ (or be absent) from the live copy, and why.
STATUS_UNKNOWABLE = {
    "Umask": "not in a core; the kernel too omits the line when it cannot tell",
    "State": "X (dead)",
    "FDSize": "open files are not in a core (0; fd/ is empty)",
    "VmPeak": "peaks are not recorded: the current size stands in (a lower bound)",
    "VmHWM": "likewise: the current Rss",
    "VmRSS": "Rss is what the core holds as data (gcore: not all zeros)", "RssAnon": "likewise",
    "RssFile": "likewise (the kernel does not dump unmodified file text)",
    "RssShmem": "likewise", "VmPTE": "page tables are not in a core",
    "VmLck": "not in a core (0)", "VmPin": "not in a core (0)", "VmSwap": "not in a core (0)",
    "THP_enabled": "not in a core (0)",
    "untag_mask": "arch-specific and not in a core: absent",
    "SigQ": "queued signals and their limit are not in a core (0/0)",
    "SigPnd": "at death", "SigBlk": "at death",
    "SigIgn": "dispositions are not in a core (0)", "SigCgt": "likewise",
    "CapInh": "capabilities are not in a core (0)", "CapPrm": "likewise",
    "CapEff": "likewise", "CapBnd": "likewise", "CapAmb": "likewise",
    "Speculation_Store_Bypass": "unknown (the kernel's own word)",
    "SpeculationIndirectBranch": "unknown",
    "Cpus_allowed": "affinity is not in a core", "Cpus_allowed_list": "likewise",
    "Mems_allowed": "likewise", "Mems_allowed_list": "likewise",
    "voluntary_ctxt_switches": "not in a core (0)", "nonvoluntary_ctxt_switches": "likewise",
}
GCORE_STATUS_DIFFERENCES = {"VmSize": "gcore skips [vvar]", "VmData": "likewise",
                            "VmLib": "likewise"}

# statm: size resident shared text lib data dt
STATM_UNKNOWABLE = {1: "resident: what the core holds as data", 2: "shared: likewise"}
GCORE_STATM_DIFFERENCES = {0: "size: gcore skips [vvar]"}

# gdb's make_output_phdrs sets PF_R on every segment it writes: PROT_NONE guard pages come out
# readable in gcore cores (README, "Known differences in gcore cores").
GCORE_READ_BIT = "gcore marks every segment readable"

# smaps: per mapping, the fields other than these are honest zeros.  Pss is Rss: a dead process
# shares its pages with no process corefs could know of (README).
SMAPS_KNOWN = {"Size", "KernelPageSize", "MMUPageSize", "Rss", "Pss"}


def has_heap(d):
    return any(name == "[heap]" for _, _, _, name in live_maps(d))


def live_stat_expected(d, live, got):
    """The live stat fields with the unknowable ones replaced by corefs's (checked apart)."""
    rules = {**STAT_UNKNOWABLE, **(GCORE_STAT_DIFFERENCES if d.gcore else {})}
    if not has_heap(d):
        rules[47] = START_BRK_WITHOUT_HEAP
    exp = list(live)
    for n in rules:
        exp[n - 1] = got[n - 1]
    return exp


# --- the files, against the live copies ----------------------------------------------------------

def test_root_lists_the_dead(dead, mnt):
    runs, _ = dead
    names = set(os.listdir(mnt))
    assert {str(d.pid) for d in runs.values()} <= names
    assert {"stat", "uptime", "meminfo", "loadavg", "version", "cpuinfo"} <= names
    assert "self" not in names and "thread-self" not in names
    assert not (mnt / "self").exists()
    for d in runs.values():
        assert os.listdir(mnt / str(d.pid) / "fd") == []
        assert stat.S_IMODE(os.stat(mnt / str(d.pid) / "fd").st_mode) == 0o500


@pytest.mark.parametrize("label", ["pt-threads", "pt-nobody", "pt-gcore"])
def test_stat(dead, mnt, label):
    d = dead[0][label]
    got = stat_fields(read(mnt / str(d.pid) / "stat"))
    live = stat_fields(d.live("stat"))
    assert live[2] == "R", "the live copy was taken by the running main thread"
    assert got == live_stat_expected(d, live, got), "fields a core knows differ from live"
    # The unknowable fields, each with what it must be.
    main = regs(mnt, d.pid, d.pid)
    assert got[2] == "X"
    assert (got[6], got[7]) == ("0", "-1")
    flags = int(live[8])
    assert int(got[8]) & ~(PF_DUMPCORE | PF_SIGNALED) == flags
    assert int(got[8]) & (PF_DUMPCORE | PF_SIGNALED) == (0 if d.gcore else
                                                           PF_DUMPCORE | PF_SIGNALED)
    assert got[9:13] == ["0"] * 4
    assert int(got[13]) >= int(live[13]) and int(got[14]) >= int(live[14]) or d.gcore
    assert int(got[21]) == death_ticks(d.core)
    assert int(got[23]) * PAGE == mm_rss(d)
    assert (int(got[28]), int(got[29])) == (main["rsp"], main["rip"])
    assert got[32:35] == ["0", "0", "0"]
    assert (got[37], got[38]) == ("0", "0")
    assert int(got[51]) == d.status


@pytest.mark.parametrize("label", ["pt-threads", "pt-gcore"])
def test_task_stat_status_comm(dead, mnt, label):
    d = dead[0][label]
    assert sorted(int(t) for t in os.listdir(mnt / str(d.pid) / "task")) == sorted(d.tids)
    for tid in d.tids:
        task = mnt / str(d.pid) / "task" / str(tid)
        assert read(task / "comm") == d.live_task(tid, "comm")
        got = stat_fields(read(task / "stat"))
        live = stat_fields(d.live_task(tid, "stat"))
        assert got[0] == str(tid)
        assert got == live_stat_expected(d, live, got)
        r = regs(mnt, d.pid, tid)
        assert (int(got[28]), int(got[29])) == (r["rsp"], r["rip"])
        status = dict(status_fields(read(task / "status")))
        assert status["Pid"] == f"\t{tid}" and status["Tgid"] == f"\t{d.pid}"
        assert status["Name"] == dict(status_fields(d.live_task(tid, "status")))["Name"]


@pytest.mark.parametrize("label", ["pt-threads", "pt-nobody", "pt-gcore"])
def test_status(dead, mnt, label):
    d = dead[0][label]
    got = status_fields(read(mnt / str(d.pid) / "status"))
    live = status_fields(d.live("status"))
    rules = {**STATUS_UNKNOWABLE, **(GCORE_STATUS_DIFFERENCES if d.gcore else {})}
    absent = [k for k, _ in live if k not in dict(got)]
    assert set(absent) <= {"Umask", "untag_mask"} | {k for k, _ in live
                                                     if k.startswith("x86_Thread_features")}
    assert [k for k, _ in got] == [k for k, _ in live if k not in absent], "order"
    g = dict(got)
    for key, value in live:
        if key not in rules and key not in absent:
            assert g[key] == value, f"{key}: {g[key]!r} != live {value!r}"
    assert g["State"] == "\tX (dead)"
    assert kb(g["VmPeak"]) == kb(g["VmSize"]) <= kb(dict(live)["VmPeak"])
    rss = mm_rss(d)
    assert kb(g["VmRSS"]) == kb(g["VmHWM"]) == rss
    assert kb(g["RssAnon"]) + kb(g["RssFile"]) + kb(g["RssShmem"]) == rss
    assert g["Speculation_Store_Bypass"] == "\tunknown"
    if d.label == "pt-nobody":
        assert g["Uid"] == "\t65534\t65534\t65534\t65534" == dict(live)["Uid"]


@pytest.mark.parametrize("label", ["pt-threads", "pt-nobody", "pt-gcore"])
def test_statm(dead, mnt, label):
    d = dead[0][label]
    got = [int(x) for x in read(mnt / str(d.pid) / "statm").split()]
    live = [int(x) for x in d.live("statm").split()]
    assert len(got) == len(live) == 7
    rules = {**STATM_UNKNOWABLE, **(GCORE_STATM_DIFFERENCES if d.gcore else {})}
    assert [g for i, g in enumerate(got) if i not in rules] == \
        [v for i, v in enumerate(live) if i not in rules]
    status = dict(status_fields(read(mnt / str(d.pid) / "status")))
    assert got[0] * PAGE == kb(status["VmSize"]) and got[1] * PAGE == kb(status["VmRSS"])


@pytest.mark.parametrize("label", ["pt-threads", "pt-gcore"])
def test_smaps_and_rollup(dead, mnt, label):
    d = dead[0][label]
    got = smaps_blocks(read(mnt / str(d.pid) / "smaps"))
    live = {SMAPS_HEADER.match(h)[1]: (h, f) for h, f in smaps_blocks(d.live("smaps"))}
    maps = read(mnt / str(d.pid) / "maps").decode().splitlines()
    assert [h for h, _ in got] == maps, "each block starts with its maps line"
    rss = core_rss(d)
    for header, fields in got:
        start = SMAPS_HEADER.match(header)[1]
        lheader, lfields = live[start]
        # Same fields in the same order (ProtectionKey only where the CPU has pkeys).
        assert [k for k, _ in fields] == [k for k, _ in lfields if k != "ProtectionKey"]
        f, lf = dict(fields), dict(lfields)
        for key in ("Size", "KernelPageSize", "MMUPageSize"):
            assert f[key] == lf[key], (header, key)
        assert kb(f["Rss"]) == rss.get(int(start, 16), 0), header
        assert f["Pss"] == f["Rss"], header
        for key, value in fields:
            if key not in SMAPS_KNOWN | {"VmFlags", "THPeligible"}:
                assert kb(value) == 0, (header, key)
        flags = set(f["VmFlags"].split())
        if d.gcore and SMAPS_HEADER.match(lheader)[3][0] == "-":
            flags.discard("rd")     # GCORE_READ_BIT
        assert flags <= set(lf["VmFlags"].split()), header
    rollup = smaps_blocks(read(mnt / str(d.pid) / "smaps_rollup"))
    lrollup = smaps_blocks(d.live("smaps_rollup"))
    assert len(rollup) == len(lrollup) == 1
    assert rollup[0][0] == lrollup[0][0], "first mapping to the end of the last, [rollup]"
    assert [k for k, _ in rollup[0][1]] == [k for k, _ in lrollup[0][1]]
    assert kb(dict(rollup[0][1])["Rss"]) == sum(kb(dict(f)["Rss"]) for h, f in got
                                                if not h.endswith("[vsyscall]"))
    r = dict(rollup[0][1])
    assert r["Pss"] == r["Rss"]
    assert kb(r["Pss_Anon"]) + kb(r["Pss_File"]) + kb(r["Pss_Shmem"]) == kb(r["Pss"])
    status = dict(status_fields(read(mnt / str(d.pid) / "status")))
    assert [kb(r[k]) for k in ("Pss_Anon", "Pss_File", "Pss_Shmem")] == \
        [kb(status[k]) for k in ("RssAnon", "RssFile", "RssShmem")]


def test_limits_wchan_personality(dead, mnt):
    for d in dead[0].values():
        p = mnt / str(d.pid)
        live_header = d.live("limits").decode().splitlines(keepends=True)[0]
        assert read(p / "limits").decode() == live_header, "the header, and no limit known"
        assert read(p / "wchan") == b"0"
        assert read(p / "personality") == d.live("personality")
        assert stat.S_IMODE(os.stat(p / "personality").st_mode) == 0o400


@pytest.mark.parametrize("label", ["pt-threads", "pt-nobody", "pt-gcore"])
def test_syscall(dead, mnt, label):
    d = dead[0][label]
    for tid in d.tids:
        line = read(mnt / str(d.pid) / "task" / str(tid) / "syscall").decode()
        r = regs(mnt, d.pid, tid)
        nr = r["orig_rax"] - (1 << 64 if r["orig_rax"] >= 1 << 63 else 0)
        if nr < 0:
            assert line == f"{nr} {r['rsp']:#x} {r['rip']:#x}\n"
        else:
            args = " ".join(f"{r[n]:#x}" for n in ("rdi", "rsi", "rdx", "r10", "r8", "r9"))
            assert line == f"{nr} {args} {r['rsp']:#x} {r['rip']:#x}\n"
        if tid != d.pid:
            # Parked in read(2) when the copy was taken, and still there at death.
            assert line == d.live_task(tid, "syscall").decode()
    if d.label == "pt-threads":
        assert read(mnt / str(d.pid) / "syscall").startswith(b"-1 "), "it faulted in user code"
    assert read(mnt / str(d.pid) / "syscall") == \
        read(mnt / str(d.pid) / "task" / str(d.pid) / "syscall")


def test_global_files_agree(dead, mnt):
    runs = dead[0].values()
    before = time.time()
    st = read(mnt / "stat").decode().splitlines()
    uptime = [float(x) for x in read(mnt / "uptime").split()]
    after = time.time()
    lines = {line.split()[0]: line.split()[1:] for line in st}
    assert lines["btime"] == ["0"]
    assert before - 0.02 <= uptime[0] <= after + 0.02, "uptime is the time since btime 0"
    assert lines["processes"] == [str(len(runs))]
    assert lines["procs_running"] == ["0"] and lines["procs_blocked"] == ["0"]
    cpu = [int(x) for x in lines["cpu"]]
    assert cpu == [int(x) for x in lines["cpu0"]] and len(cpu) == 10
    pstats = [stat_fields(read(mnt / str(d.pid) / "stat")) for d in runs]
    assert cpu[0] == sum(int(s[13]) for s in pstats) and cpu[2] == sum(int(s[14]) for s in pstats)
    assert abs(sum(cpu) / HZ - uptime[0]) < 0.05
    for s in pstats:
        assert int(s[21]) / HZ <= uptime[0], "every process started before now"
    load = read(mnt / "loadavg").decode().split()
    assert load[:3] == ["0.00"] * 3
    assert load[3] == f"0/{sum(len(d.tids) for d in runs)}"
    assert load[4] == str(max(t for d in runs for t in d.tids))
    mem = {line.split(":")[0]: line.split(":")[1] for line in
           read(mnt / "meminfo").decode().splitlines()}
    rss = [kb(dict(status_fields(read(mnt / str(d.pid) / "status")))["VmRSS"]) for d in runs]
    assert kb(mem["MemTotal"]) == sum(rss) and kb(mem["MemFree"]) == 0
    assert read(mnt / "version").startswith(b"Linux version ")
    assert read(mnt / "cpuinfo") == b"processor\t: 0\n\n"


# --- psutil ----------------------------------------------------------------------------------

@contextlib.contextmanager
def psutil_on(mnt):
    import psutil
    old = psutil.PROCFS_PATH
    psutil.PROCFS_PATH = str(mnt)
    try:
        yield psutil
    finally:
        psutil.PROCFS_PATH = old


def live_maps(d):
    """[(start, end, perms, path)] of the live maps, psutil's way of naming anonymous ones."""
    out = []
    for line in d.live("maps").decode().splitlines():
        parts = line.split(None, 5)
        start, end = (int(x, 16) for x in parts[0].split("-"))
        out.append((start, end, parts[1], parts[5] if len(parts) > 5 else "[anon]"))
    return out


def test_psutil(dead, mnt):
    runs = dead[0]
    with psutil_on(mnt) as psutil:
        assert sorted(psutil.pids()) == sorted(d.pid for d in runs.values())
        assert psutil.boot_time() == 0
        for d in runs.values():
            p = psutil.Process(d.pid)
            lstat, lstatus = stat_fields(d.live("stat")), dict(status_fields(d.live("status")))
            assert p.name() == d.comm
            assert p.cmdline() == d.live("cmdline").decode().split("\0")[:-1]
            env = dict(e.split("=", 1) for e in d.live("environ").decode().split("\0") if e)
            assert p.environ() == env
            assert p.ppid() == int(lstat[3])
            assert tuple(p.uids()) == tuple(int(x) for x in lstatus["Uid"].split()[:3])
            assert tuple(p.gids()) == tuple(int(x) for x in lstatus["Gid"].split()[:3])
            assert p.num_threads() == len(d.tids) == int(lstatus["Threads"])
            assert sorted(t.id for t in p.threads()) == sorted(d.tids)
            assert p.status() == psutil.STATUS_DEAD
            assert p.create_time() == pytest.approx(os.stat(d.core).st_mtime, abs=0.011)
            mi = p.memory_info()
            statm = [int(x) * PAGE for x in d.live("statm").split()]
            assert (mi.text, mi.lib, mi.dirty) == (statm[3], statm[4], statm[6])
            if not d.gcore:     # gcore leaves [vvar] out
                assert (mi.vms, mi.data) == (statm[0], statm[5])
            assert mi.rss == mm_rss(d)
            maps = p.memory_maps(grouped=False)
            live = live_maps(d)
            if d.gcore:
                live = [m for m in live if m[3] not in ("[vvar]", "[vvar_vclock]")]
            if d.gcore:         # GCORE_READ_BIT
                live = [(s, e, "r" + p[1:], n) for s, e, p, n in live]
            assert [(int(m.addr.split("-")[0], 16), int(m.addr.split("-")[1], 16), m.perms,
                     m.path) for m in maps] == live
            rss = core_rss(d)
            for m in maps:
                start = int(m.addr.split("-")[0], 16)
                assert m.rss == rss.get(start, 0) and m.pss == m.rss, m
            assert p.num_fds() == 0


# --- prometheus process-exporter -----------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url, deadline):
    """The metrics once the exporter has read the processes: {(name, labels): value}."""
    text = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                text = r.read().decode()
            if "namedprocess_namegroup_num_procs" in text:
                break
        except OSError:
            pass
        time.sleep(0.2)
    metrics = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = re.fullmatch(r'([a-z_]+)(?:\{(.*)\})? (\S+)', line)
        assert m, line
        labels = tuple(sorted(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m[2] or "")))
        metrics[(m[1], labels)] = float(m[3])
    return metrics


def test_process_exporter(dead, mnt, tmp_path):
    runs = dead[0]
    config = tmp_path / "groups.yaml"
    config.write_text('process_names:\n  - name: "{{.Comm}}"\n    cmdline:\n    - \'.+\'\n')
    port = free_port()
    log = open(tmp_path / "exporter.log", "wb")
    proc = subprocess.Popen([EXPORTER, "-procfs", str(mnt), "-config.path", str(config),
                             "-web.listen-address", f"127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        metrics = scrape(f"http://127.0.0.1:{port}/metrics", time.monotonic() + 30)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert metrics, (tmp_path / "exporter.log").read_text()
    assert metrics[("namedprocess_scrape_procread_errors", ())] == 0

    def metric(name, group, **labels):
        return metrics[(name, tuple(sorted({"groupname": group, **labels}.items())))]
    for d in runs.values():
        s = stat_fields(read(mnt / str(d.pid) / "stat"))
        assert metric("namedprocess_namegroup_num_procs", d.comm) == 1
        assert metric("namedprocess_namegroup_num_threads", d.comm) == len(d.tids)
        assert metric("namedprocess_namegroup_memory_bytes", d.comm, memtype="virtual") == \
            int(s[22])
        assert metric("namedprocess_namegroup_memory_bytes", d.comm, memtype="resident") == \
            mm_rss(d)
        if not d.gcore:
            assert metric("namedprocess_namegroup_memory_bytes", d.comm,
                          memtype="virtual") == int(stat_fields(d.live("stat"))[22])
        # The exporter reports whole seconds of btime + starttime.
        assert metric("namedprocess_namegroup_oldest_start_time_seconds", d.comm) == \
            death_ticks(d.core) // HZ
        assert metric("namedprocess_namegroup_states", d.comm, state="Running") == 0
        assert metric("namedprocess_namegroup_open_filedesc", d.comm) == 0


# --- procps, through contrib/corefs-proc ---------------------------------------------------------

def corefs_proc(mnt, *cmd):
    p = subprocess.run([str(COREFS_PROC), str(mnt), "--", *cmd], capture_output=True,
                       timeout=60)
    assert p.returncode == 0, f"{cmd}: rc {p.returncode}: {p.stderr.decode()}"
    assert p.stderr == b"", p.stderr.decode()
    return p.stdout.decode()


def test_ps(dead, mnt):
    runs = dead[0]
    out = corefs_proc(mnt, "ps", "-eo", "pid,ppid,comm,nlwp,vsz").splitlines()
    header = out[0]
    assert header.split() == ["PID", "PPID", "COMMAND", "NLWP", "VSZ"]
    cmd = header.index("COMMAND")
    rows = {}
    for line in out[1:]:
        pid, ppid = (int(x) for x in line[:cmd].split())
        nlwp, vsz = (int(x) for x in line[cmd + 15:].split())
        rows[pid] = (ppid, line[cmd:cmd + 15].rstrip(), nlwp, vsz)
    # ps lists itself too (its own live /proc entry), as it does anywhere.
    extra = set(rows) - {d.pid for d in runs.values()}
    assert len(extra) == 1 and rows[extra.pop()][1] == "ps", rows
    for d in runs.values():
        lstat = stat_fields(d.live("stat"))
        statm = [int(x) for x in d.live("statm").split()]
        ppid, comm, nlwp, vsz = rows[d.pid]
        assert (ppid, comm, nlwp) == (int(lstat[3]), d.comm, len(d.tids))
        status = dict(status_fields(read(mnt / str(d.pid) / "status")))
        assert vsz * 1024 == kb(status["VmSize"])
        if not d.gcore:
            assert vsz * 1024 == statm[0] * PAGE


def test_pmap(dead, mnt):
    for d in dead[0].values():
        out = corefs_proc(mnt, "pmap", "-x", str(d.pid)).splitlines()
        assert out[0].startswith(f"{d.pid}:")
        assert out[1].split() == ["Address", "Kbytes", "RSS", "Dirty", "Mode", "Mapping"]
        rows = [line.split() for line in out[2:-2]]
        maps = read(mnt / str(d.pid) / "maps").decode().splitlines()
        smaps = smaps_blocks(read(mnt / str(d.pid) / "smaps"))
        assert len(rows) == len(maps)
        for row, line, (_, fields) in zip(rows, maps, smaps):
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            assert int(row[0], 16) == start and int(row[1]) * 1024 == end - start
            assert int(row[2]) * 1024 == kb(dict(fields)["Rss"]) and row[3] == "0"
        total = out[-1].split()
        live = sum(e - s for s, e, _, _ in live_maps(d))
        if d.gcore:
            live -= sum(e - s for s, e, _, p in live_maps(d) if p in ("[vvar]", "[vvar_vclock]"))
        assert total[:2] == ["total", "kB"] and int(total[2]) * 1024 == live


def test_pgrep(dead, mnt):
    for d in dead[0].values():
        pattern = re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", d.comm)
        out = corefs_proc(mnt, "pgrep", "-x", pattern)
        assert out.split() == [str(d.pid)]
        out = corefs_proc(mnt, "pgrep", "-l", "-x", pattern)
        assert out == f"{d.pid} {d.comm}\n"


def test_corefs_proc_needs_root_and_a_proc_mount(mnt, tmp_path):
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        str(COREFS_PROC), str(mnt), "--", "true"], capture_output=True)
    assert p.returncode == 1 and b"needs root" in p.stderr
    p = subprocess.run([str(COREFS_PROC), str(tmp_path), "--", "true"], capture_output=True)
    assert p.returncode == 1 and b"is not a corefs /proc" in p.stderr
    p = subprocess.run([str(COREFS_PROC), str(mnt), "true"], capture_output=True)
    assert p.returncode == 2 and b"usage" in p.stderr
    # Nothing it did is visible outside: /proc here is still the live one.
    assert pathlib.Path("/proc/self").resolve().name == str(os.getpid())


# --- the corpus: other machines' cores, against EXPECTED.md ---------------------------------------

from test_corpus import SECTIONS, expected_threads, main_block  # noqa: E402 (EXPECTED.md parsed)
from conftest import corefs_cat, corpus_files  # noqa: E402


def linux_cores():
    out = []
    for path in SECTIONS:
        try:
            block = main_block(path)
        except AssertionError:
            continue
        if "prpsinfo" in block and expected_threads(block):
            out.append(path)
    return sorted(out) or ["<corpus absent>"]


# The system call ABIs by the register EXPECTED names the number with: number, six arguments,
# stack pointer, pc (x32 is x86_64's).
SYSCALL_ABIS = {
    "orig_rax": ("orig_rax", "rdi", "rsi", "rdx", "r10", "r8", "r9", "rsp", "rip", 64),
    "orig_eax": ("orig_eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", 32),
}


@pytest.mark.parametrize("path", linux_cores())
def test_corpus_stat_status_syscall(path, corpus_dir):
    """stat and status say what NT_PRPSINFO says; syscall is each thread's system call
    registers, by the ABI (x86_64, x32, i386), and absent where the core cannot tell."""
    core, = corpus_files(corpus_dir, path)
    exp = main_block(path)
    info = exp["prpsinfo"]

    def cat(p):
        return corefs_cat(core, p).stdout
    s = stat_fields(cat("stat"))
    assert [int(x) for x in (s[0], s[3], s[4], s[5])] == \
        [info["pid"], info["ppid"], info["pgrp"], info["sid"]]
    assert int(s[8]) == int(info["flag"], 16)
    assert s[1] == info["fname"][:15] and s[2] == "X"
    assert int(s[19]) == len(expected_threads(exp))
    status = dict(status_fields(cat("status")))
    assert status["Uid"] == "\t" + "\t".join([str(info["uid"])] * 4)
    assert status["Gid"] == "\t" + "\t".join([str(info["gid"])] * 4)
    assert status["Threads"] == f"\t{len(expected_threads(exp))}"
    for tid, t in expected_threads(exp):
        r = {k: int(v, 16) for k, v in t["regs"].items()}
        abi = next((SYSCALL_ABIS[k] for k in SYSCALL_ABIS if k in r), None)
        listing = cat(f"task/{tid}").decode().split()
        if abi is None:
            assert "syscall" not in listing, "no system call register on this machine"
            continue
        bits = abi[-1]
        nr = r[abi[0]] - (1 << bits if r[abi[0]] >> (bits - 1) & 1 else 0)
        if nr < 0:
            want = f"{nr} {r[abi[7]]:#x} {r[abi[8]]:#x}\n"
        else:
            want = f"{nr} " + " ".join(f"{r[n]:#x}" for n in abi[1:9]) + "\n"
        assert cat(f"task/{tid}/syscall").decode() == want, f"thread {tid}"
