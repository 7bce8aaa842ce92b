"""A real program nobody here wrote: Debian's python3, in a loop that opens a file every
iteration, with glibc's locale files (/usr/lib/locale/C.utf8/LC_*, 23 bytes to 345 KiB) and its
gconv cache mapped.

gcore leaves out what a process never wrote of such mappings; the mount shows them readable (as
they were) and a revived process reads them from the files: it counts on.  Kernel and gcore cores
that do hold the small files' pages (coredump_filter 0x37 dumps private file mappings) find the
files on disk the very files, though each is shorter than the page the core holds.

Oracles: the program's own /proc/self/maps, saved before its core was made; the counter it writes
to a file, read after its revival.
"""
import json
import os
import pathlib
import time

import pytest

from conftest import corefs_cat, crash, gcore_running, mounted, wait_until
from test_revive import command, read_control, revived
from test_revive import subreaper  # noqa: F401 (an autouse fixture: revived processes come here)

PYTHON = "/usr/bin/python3"
LOCALE_DIR = "/usr/lib/locale/C.utf8"
GCONV_CACHE = "gconv-modules.cache"

# argv: counter file, "gcore" or "crash", coredump_filter ("-" leaves the default).  Loads every
# LC_* file of C.UTF-8, counts three times, saves its maps (nothing is mapped later) and aborts,
# or says it is ready and waits, with no file open, for a "go" file next to the counter (gcore
# comes in that wait: a revived process has none of the fds it had), then counts on.  Each count
# opens a file, writes the count and renames it over the counter (read whole or not at all).
SCRIPT = """\
import locale, os, sys, time
out, how, dump_filter = sys.argv[1:4]
if dump_filter != "-":
    with open("/proc/self/coredump_filter", "w") as f:
        f.write(dump_filter)
locale.setlocale(locale.LC_ALL, "C.UTF-8")
n = 0

def count():
    global n
    n += 1
    with open(out + ".new", "w") as f:
        f.write(f"{n}\\n")
    os.replace(out + ".new", out)

for _ in range(3):
    count()
with open("/proc/self/maps") as f:
    maps = f.read()
with open("maps.live", "w") as f:
    f.write(maps)
if how == "crash":
    os.abort()
print("ready", flush=True)
while not os.path.exists(out + ".go"):
    time.sleep(0.01)
while True:
    count()
    time.sleep(0.01)
"""

pytestmark = [
    pytest.mark.skipif(not os.access(PYTHON, os.X_OK), reason=f"{PYTHON} is not installed"),
    pytest.mark.skipif(not os.path.isdir(LOCALE_DIR), reason=f"no {LOCALE_DIR} (libc-bin)"),
]


def maps_of(text):
    """{path: [(start, perms, dev, inode), ...]} for glibc's locale files and gconv cache."""
    out = {}
    for line in text.splitlines():
        f = line.split(maxsplit=5)
        if len(f) == 6 and (f[5].startswith(LOCALE_DIR + "/") or f[5].endswith(GCONV_CACHE)):
            out.setdefault(f[5], []).append((int(f[0].split("-")[0], 16), f[1], f[3], int(f[4])))
    return out


def locale_files(maps):
    return [p for p in maps if p.startswith(LOCALE_DIR + "/")]


def make_core(d, how, dump_filter="-"):
    """Run the script in d until it is gcore'd or aborts; (core, its own maps before)."""
    script = d / "loop.py"
    script.write_text(SCRIPT)
    args = (str(script), str(d / "counter"), how, dump_filter)
    if how == "gcore":
        core = gcore_running(PYTHON, d, *args)
    else:
        core, _ = crash(PYTHON, d, *args)
    live = maps_of((d / "maps.live").read_text())
    assert len(locale_files(live)) >= 12, f"C.UTF-8's LC_* files are not all mapped: {live}"
    return core, live


def counter(d):
    return int((d / "counter").read_text())


def test_a_gcored_python_resumes_and_counts_on(tmp_path):
    """gcore writes none of the locale files' or gconv cache's bytes; the mount shows their
    protections as the process had them, and the revived process opens files and counts on."""
    core, live = make_core(tmp_path, "gcore")
    # gcore held no bytes of them: their protections are found, not read from the core
    with mounted(core) as mnt:
        mine = maps_of((mnt / "maps").read_text())
        assert mine.keys() == live.keys()
        for path, rows in live.items():
            if path.startswith(LOCALE_DIR + "/"):
                assert mine[path] == rows, path
            else:
                # glibc maps its gconv cache MAP_SHARED; neither kind of core tells shared
                # from private (see the README), the rest is the live process's
                assert [(a, p[:3], dev, ino) for a, p, dev, ino in mine[path]] == \
                       [(a, p[:3], dev, ino) for a, p, dev, ino in rows], path
        files = {f["path"]: f for f in json.loads((mnt / "core.json").read_text())["files"]}
        for path in live:
            assert files[path]["status"] == "presumed", files[path]

        assert counter(tmp_path) == 3
        (tmp_path / "counter.go").touch()
        with revived(mnt, f"stderr={tmp_path / 'stderr'}") as ctl:
            pid = int(ctl["pid"][0])
            assert not [line for line in ctl.get("lost", [])
                        if LOCALE_DIR in line or GCONV_CACHE in line], ctl["lost"]
            theirs = maps_of(pathlib.Path(f"/proc/{pid}/maps").read_text())
            for path in locale_files(live):
                assert [(a, p) for a, p, _, _ in theirs[path]] == \
                       [(a, p) for a, p, _, _ in live[path]], path
            assert command(mnt, "resume") == 0
            wait_until(lambda: counter(tmp_path) > 50 or read_control(mnt)["state"] != ["running"],
                       "the revived python3 to count past 50")
            ctl = read_control(mnt)
            assert ctl["state"] == ["running"], (ctl, (tmp_path / "stderr").read_text())
            assert counter(tmp_path) > 50
            time.sleep(0.1)
            assert counter(tmp_path) > 55 and read_control(mnt)["state"] == ["running"]


@pytest.mark.parametrize("how", ("crash", "gcore"))
def test_small_files_are_the_very_files(tmp_path, how):
    """With coredump_filter 0x37 the core holds each locale file's page: the file's bytes, then
    zeros past its end (LC_MEASUREMENT is 23 bytes).  Each is the very file."""
    core, live = make_core(tmp_path, how, "0x37")
    small = [p for p in locale_files(live) if os.path.getsize(p) < 4096]
    assert small, "no locale file shorter than a page"
    files = json.loads(corefs_cat(core, "core.json").stdout)["files"]
    files = {f["path"]: f for f in files}
    for path in live:
        assert files[path]["status"] == "same", files[path]
    for path in small:
        assert "zeros after them" in files[path]["why"], files[path]
    mine = maps_of(corefs_cat(core, "maps").stdout.decode())
    for path, rows in live.items():
        assert [(a, dev, ino) for a, _, dev, ino in mine[path]] == \
               [(a, dev, ino) for a, _, dev, ino in rows], path
    for path in locale_files(live):
        assert mine[path] == live[path], path
    with mounted(core) as mnt, revived(mnt) as ctl:
        assert not [line for line in ctl.get("lost", [])
                    if LOCALE_DIR in line or GCONV_CACHE in line], ctl["lost"]
