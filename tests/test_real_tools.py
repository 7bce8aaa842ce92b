"""htop, lsof and psutil on a /proc of dead processes (issue 11, items 4 and 5).

The cores and the mount are test_proctools.py's (two kernel cores and a gcore core of
tests/progs/pt_proc.c, one directory mounted once), with what each run copied from its own
/proc just before it died as the oracle.  The tools run unchanged through contrib/corefs-proc,
which binds the mount's entries over /proc in a private mount namespace and runs the tool in a
PID namespace of its own:

* htop, in a tmux pane (it has no batch mode), lists every dead process and thread;
* lsof -p lists each dead process's executable (txt) and mapped files (mem), from its maps;
* every public method of psutil.Process returns the dead process's value or raises the
  exception psutil documents for what the mount cannot say: AccessDenied for cwd (a core does
  not record it), NoSuchProcess for what psutil asks the kernel rather than /proc (nice,
  cpu_affinity, ionice, rlimit, the signals; wait returns None): a dead process is no kernel
  task.  A live process of this machine with a dead one's pid (an impostor, made with
  ns_last_pid) is never what psutil reads.
"""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from test_proctools import (COREFS_PROC, HZ, dead, mm_rss, mnt, read,  # noqa: F401 (fixtures)
                            stat_fields, status_fields)

PYTHON = "/usr/bin/python3"     # Debian's, with python3-psutil


def need(tool):
    if not shutil.which(tool):
        pytest.skip(f"{tool} is not installed (make check installs it)")


def corefs_proc(mnt, *cmd, timeout=60):
    p = subprocess.run([str(COREFS_PROC), str(mnt), "--", *cmd], capture_output=True,
                       timeout=timeout)
    assert p.returncode == 0, f"{cmd}: rc {p.returncode}: {p.stderr.decode()}"
    assert p.stderr == b"", p.stderr.decode()
    return p.stdout.decode()


def test_corefs_proc_binds_and_isolates(dead, mnt):
    """Every entry is a directory or file, not a link; the live-only ones are the kernel's
    links; the command runs in a PID namespace where its pid is above every dead pid and tid."""
    runs = dead[0].values()
    out = corefs_proc(mnt, "sh", "-c", 'echo $$; cd /proc; for e in *; do '
                      'if [ -L "$e" ]; then echo "$e -> $(readlink "$e")"; '
                      'elif [ -d "$e" ]; then echo "$e/"; else echo "$e"; fi; done; '
                      'echo 1:$(cat /proc/1/comm 2>&1)')
    lines = out.splitlines()
    me = int(lines[0])
    assert me > max(t for d in runs for t in d.tids)
    listing = set(lines[1:-1])
    for d in runs:
        assert f"{d.pid}/" in listing
    assert f"{me}/" in listing, "the command's own entry, from the live procfs"
    assert {"self -> .live/self", "thread-self -> .live/thread-self",
            "mounts -> self/mounts", "by-name/", "stat", "uptime", "loadavg"} <= listing
    assert lines[-1].startswith("1:") and "No such file" in lines[-1], \
        "the namespace's init is no entry of the /proc"


def test_io_and_task_statm(dead, mnt):
    """io: the kernel's fields (this machine's own /proc/self/io names them, in order), each 0,
    for the process and every thread; task/<tid>/statm is the process's (one mm)."""
    names = [line.split(":")[0] for line in read("/proc/self/io").decode().splitlines()]
    want = "".join(f"{n}: 0\n" for n in names).encode()
    for d in dead[0].values():
        p = mnt / str(d.pid)
        assert read(p / "io") == want
        for tid in d.tids:
            assert read(p / "task" / str(tid) / "io") == want
            assert read(p / "task" / str(tid) / "statm") == read(p / "statm")


# --- htop ------------------------------------------------------------------------------------

def tmux(sock, *args):
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True, timeout=10)


def test_htop(dead, mnt, tmp_path):
    """htop (under tmux) lists every dead process and thread: pid, nice, state X, command."""
    need("htop")
    need("tmux")
    runs = dead[0].values()
    sock = f"corefs-test-{os.getpid()}"
    rc = tmp_path / "htoprc"
    cmd = f"HTOPRC={rc} {COREFS_PROC} {mnt} -- htop --readonly -C; sleep 60"
    assert tmux(sock, "new-session", "-d", "-x", "250", "-y", "60", cmd).returncode == 0
    want = {t for d in runs for t in d.tids}
    try:
        rows, screen = {}, ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            screen = tmux(sock, "capture-pane", "-p").stdout
            rows = {}
            for line in screen.splitlines():
                m = re.match(r"\s*(\d+) (\S+)\s+(\d+)\s+(-?\d+)(?:\s+\S+){3}\s+(\S) .*?"
                             r"\d+:\d+\.\d+ (.*)$", line)
                if m:
                    rows[int(m[1])] = (int(m[4]), m[5], m[6].rstrip())
            if want <= set(rows):
                break
            time.sleep(0.2)
        tmux(sock, "send-keys", "q")
    finally:
        tmux(sock, "kill-server")
    assert want <= set(rows), screen
    nthreads = sum(len(d.tids) - 1 for d in runs)
    assert f"Tasks: {len(runs) + 1}, {nthreads} thr" in screen, \
        "the dead processes and htop itself; every other thread"
    for d in runs:
        s = stat_fields(read(mnt / str(d.pid) / "stat"))
        cmdline = " ".join(d.live("cmdline").decode().split("\0")[:-1])
        for tid in d.tids:
            assert rows[tid] == (int(s[18]), "X", cmdline), (tid, screen)
    extra = set(rows) - want
    assert len(extra) == 1 and rows[extra.pop()][2] == "htop --readonly -C", screen


# --- lsof ------------------------------------------------------------------------------------

def lsof_files(out):
    """{fd name: [(type, name)]} of lsof -F ftn output for one process."""
    files, fd, typ = {}, None, None
    for line in out.splitlines():
        key, value = line[0], line[1:]
        if key == "f":
            fd = value
        elif key == "t":
            typ = value
        elif key == "n":
            files.setdefault(fd, []).append((typ, value))
    return files


def test_lsof(dead, mnt):
    """lsof -p PID: txt is the executable, mem every other mapped file of maps; cwd and root
    are refused (a core records neither), as for a process one may not trace."""
    need("lsof")
    for d in dead[0].values():
        out = corefs_proc(mnt, "lsof", "-F", "ftn", "-p", str(d.pid))
        assert out.startswith(f"p{d.pid}\n"), out
        files = lsof_files(out)
        exe = os.readlink(mnt / str(d.pid) / "exe")
        assert files["txt"] == [("REG", exe)]
        mapped = []
        for line in read(mnt / str(d.pid) / "maps").decode().splitlines():
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].startswith("/") and parts[5] != exe and \
                    parts[5] not in mapped:
                mapped.append(parts[5])
        assert len(mapped) >= 2, "libc and the dynamic linker at least"
        assert sorted(n for _, n in files["mem"]) == sorted(mapped)
        assert {t for t, _ in files["mem"]} == {"REG"}
        for fd, name in (("cwd", "cwd"), ("rtd", "root")):
            assert files[fd] == [("unknown",
                                  f"/proc/{d.pid}/{name} (readlink: Permission denied)")]


# --- psutil ----------------------------------------------------------------------------------

# Run inside contrib/corefs-proc, where /proc is the mount: every public method of
# psutil.Process on each dead pid, each on a fresh Process (a signal that finds no process
# marks the object gone); then process_iter with each attribute alone.  Prints JSON.
PSUTIL_SCRIPT = r'''
import json, signal, sys, warnings
import psutil

warnings.simplefilter("ignore", DeprecationWarning)     # memory_info_ex, called all the same

def plain(x):
    if isinstance(x, psutil.Process):
        return ["Process", x.pid]
    if isinstance(x, (list, tuple)):
        return [plain(y) for y in x]
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    return repr(x)

CALLS = {
    "rlimit": [(getattr(psutil, n),) for n in sorted(dir(psutil)) if n.startswith("RLIMIT_")],
    "send_signal": [(signal.SIGTERM,), (0,)],
    "wait": [(1,)],
    "cpu_percent": [(None,)],
}
pids = [int(a) for a in sys.argv[1:]]
methods = sorted(n for n in dir(psutil.Process)
                 if not n.startswith("_") and callable(getattr(psutil.Process, n)))
out = {"methods": methods, "pid": psutil.Process().pid, "calls": {}, "iter": {}}
for pid in pids:
    got = out["calls"][pid] = {}
    for name in methods:
        for args in CALLS.get(name, [()]):
            key = name + (repr(args) if args else "")
            try:
                p = psutil.Process(pid)
                if name == "oneshot":
                    with p.oneshot():
                        value = [p.name(), p.ppid()]
                else:
                    value = getattr(p, name)(*args)
                got[key] = ["value", plain(value)]
            except psutil.Error as e:
                got[key] = ["raise", type(e).__name__]
            except Exception as e:
                got[key] = ["other", f"{type(e).__name__}: {e}"]
for attr in sorted(psutil._as_dict_attrnames):
    try:
        out["iter"][attr] = sorted(p.pid for p in psutil.process_iter([attr], ad_value="AD")
                                   if p.pid in pids)
    except Exception as e:
        out["iter"][attr] = f"{type(e).__name__}: {e}"
print(json.dumps(out))
'''

# What the mount cannot say, and what psutil then raises (by its documentation):
#   cwd: a core does not record it; the link's readlink is refused (EACCES), as procfs refuses
#     it for a process one may not trace: AccessDenied ("permission denied").
#   nice, cpu_affinity, ionice, rlimit and the signals: psutil asks the kernel (getpriority,
#     sched_getaffinity, ioprio_get, prlimit, kill) about the pid, never /proc; in
#     corefs-proc's PID namespace no task has a dead pid, so NoSuchProcess, which psutil
#     documents for "a process that no longer exists"; wait() returns None, as psutil
#     documents for a process already terminated.  as_dict() with every attribute (nice among
#     them) raises NoSuchProcess too: ask it for the attributes /proc has.
RAISES = {"cwd": "AccessDenied", "nice": "NoSuchProcess", "cpu_affinity": "NoSuchProcess",
          "ionice": "NoSuchProcess", "rlimit": "NoSuchProcess", "kill": "NoSuchProcess",
          "terminate": "NoSuchProcess", "send_signal": "NoSuchProcess",
          "suspend": "NoSuchProcess", "resume": "NoSuchProcess", "as_dict": "NoSuchProcess"}
KERNEL_ASKED = {"nice", "cpu_affinity", "ionice"}      # process_iter drops the process


def test_psutil_process_iter_in_process(dead, mnt):
    """With PROCFS_PATH at the mount, as the README shows: process_iter with io_counters or cwd
    among its attributes yields every dead process (it raised FileNotFoundError, and dropped
    them all, before io and cwd were served)."""
    import psutil
    old = psutil.PROCFS_PATH
    psutil.PROCFS_PATH = str(mnt)
    try:
        got = {p.pid: p.info for p in psutil.process_iter(["name", "io_counters", "cwd"],
                                                          ad_value="AD")}
    finally:
        psutil.PROCFS_PATH = old
    assert sorted(got) == sorted(d.pid for d in dead[0].values())
    for d in dead[0].values():
        assert got[d.pid]["name"] == d.comm and got[d.pid]["cwd"] == "AD"
        assert tuple(got[d.pid]["io_counters"]) == (0,) * 6


def impostors(pids, nice):
    """Shell commands for a new PID namespace (with its own procfs): a live `sleep` at each of
    pids, niced; they end with the namespace."""
    parts = []
    for pid in sorted(pids):
        parts.append(f"echo {pid - 1} >/proc/sys/kernel/ns_last_pid; nice -n {nice} sleep 300 & "
                     f"[ $! = {pid} ] || {{ echo impostor got $!, not {pid} >&2; exit 1; }}; ")
    return "".join(parts)


def test_psutil_every_method(dead, mnt, tmp_path):
    runs = dead[0]
    pids = sorted(d.pid for d in runs.values())
    script = tmp_path / "every_method.py"
    script.write_text(PSUTIL_SCRIPT)
    pidargs = " ".join(map(str, pids))
    # Live impostors at the dead pids, in a PID namespace around corefs-proc: first psutil
    # with PROCFS_PATH at the mount, outside corefs-proc, to show they are there (nice is the
    # impostor's), then the same through corefs-proc, which must never see them.
    control = (f"{PYTHON} -c 'import psutil, sys; psutil.PROCFS_PATH = \"{mnt}\"; "
               f"print([psutil.Process(p).nice() for p in map(int, sys.argv[1:])])' {pidargs}; ")
    line = (impostors(pids, 7) + control +
            f"{COREFS_PROC} {mnt} -- {PYTHON} {script} {pidargs}")
    p = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "/bin/sh",
                        "-c", line], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    first, second = p.stdout.splitlines()
    assert json.loads(first) == [7] * len(pids), "the impostors are what the syscalls reach"
    out = json.loads(second)
    assert out["pid"] > max(t for d in runs.values() for t in d.tids)

    import psutil
    assert set(out["methods"]) == {n for n in dir(psutil.Process) if not n.startswith("_")
                                   and callable(getattr(psutil.Process, n))}
    for d in runs.values():
        got = out["calls"][str(d.pid)]
        for key, (kind, value) in got.items():
            name = key.split("(")[0]
            assert kind != "other", (d.label, key, value)
            if name in RAISES:
                assert (kind, value) == ("raise", RAISES[name]), (d.label, key, value)
            else:
                assert kind == "value", (d.label, key, value)
        v = {k: value for k, (kind, value) in got.items() if kind == "value"}
        lstat, lstatus = stat_fields(d.live("stat")), dict(status_fields(d.live("status")))
        s = stat_fields(read(mnt / str(d.pid) / "stat"))
        assert v["name"] == d.comm
        assert v["cmdline"] == d.live("cmdline").decode().split("\0")[:-1]
        assert v["environ"] == dict(e.split("=", 1) for e in
                                    d.live("environ").decode().split("\0") if e)
        assert v["exe"] == os.readlink(mnt / str(d.pid) / "exe")
        assert v["ppid"] == int(lstat[3])
        assert v["uids"] == [int(x) for x in lstatus["Uid"].split()[:3]]
        assert v["gids"] == [int(x) for x in lstatus["Gid"].split()[:3]]
        assert v["username"] == ("nobody" if d.label == "pt-nobody" else "root")
        assert v["status"] == "dead" and v["is_running"] is True
        assert v["create_time"] == pytest.approx(os.stat(d.core).st_mtime, abs=0.011)
        assert v["num_threads"] == len(d.tids)
        assert sorted(t[0] for t in v["threads"]) == sorted(d.tids)
        assert v["cpu_times"] == [int(s[13]) / HZ, int(s[14]) / HZ, int(s[15]) / HZ,
                                  int(s[16]) / HZ, 0.0]
        assert v["cpu_num"] == 0 and v["cpu_percent(None,)"] == 0.0
        assert v["io_counters"] == [0] * 6, "the kernel's for a task that did no I/O"
        assert v["num_ctx_switches"] == [0, 0]
        assert v["num_fds"] == 0 and v["open_files"] == [] and v["connections"] == []
        assert v["children"] == [] and v["parent"] is None and v["parents"] == []
        assert v["terminal"] is None
        assert v["memory_info"][0] == mm_rss(d)
        assert v["memory_info_ex"] == v["memory_info"] == v["memory_full_info"][:7]
        assert v["memory_maps"] and all(m[0].startswith(("/", "[")) for m in v["memory_maps"])
        memtotal = sum(mm_rss(x) for x in runs.values())
        assert v["memory_percent"] == pytest.approx(100 * mm_rss(d) / memtotal)
        assert v["oneshot"] == [d.comm, int(lstat[3])]
        assert v["wait(1,)"] is None, "already terminated"
    # process_iter yields every dead process with any attribute but those psutil asks the
    # kernel for (cwd and io_counters among them: the traps).
    for attr, listed in out["iter"].items():
        assert listed == ([] if attr in KERNEL_ASKED else pids), attr
