"""The executable's layout is derived once (formats/layout.c): the mount's stat shows it and
revival hands it to PR_SET_MM_MAP, so the two must agree, with each other and with the truth.

For PIE, non-PIE, static and static-PIE builds of tests/progs/witness.c, dead by SIGSEGV (a
kernel core) or gcore'd: the layout fields of the mount's `stat` (startcode, endcode,
startstack, start_data, end_data, start_brk, arg_start, arg_end, env_start, env_end) equal
  - the program's own /proc/self/stat, copied just before it died (live-stat), and
  - the revived process's /proc/PID/stat, read from the kernel after `echo revive > control`.
"""
import pathlib
import shutil

import pytest

from conftest import build_prog, crash, gcore_running, mounted
from test_revive import revived

LINKS = {
    "pie": ("-fPIE", "-pie"),
    "nopie": ("-fno-pie", "-no-pie"),
    "static": ("-static",),
    "static-pie": ("-fPIE", "-static-pie"),
}
# 1-based field numbers of /proc/PID/stat (proc(5)).
FIELDS = {"startcode": 26, "endcode": 27, "startstack": 28, "start_data": 45, "end_data": 46,
          "start_brk": 47, "arg_start": 48, "arg_end": 49, "env_start": 50, "env_end": 51}


def layout_fields(stat_text):
    """The layout fields of a stat line, by name (the comm may hold spaces: split after ')')."""
    rest = stat_text.rsplit(")", 1)[1].split()
    return {name: int(rest[n - 3]) for name, n in FIELDS.items()}


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("layout-builds")
    out = {}
    for link, flags in LINKS.items():
        (root / link).mkdir()
        out[link] = build_prog("witness", root / link, *flags)
    return out


@pytest.mark.parametrize("death", ("segv", "gcore"))
@pytest.mark.parametrize("link", LINKS)
def test_stat_layout_is_the_live_and_the_revived_process(builds, tmp_path, link, death):
    exe = tmp_path / f"witness-{link}"
    shutil.copy2(builds[link], exe)
    if death == "gcore":
        core = gcore_running(f"./{exe.name}", tmp_path, "gcore", "2")
    else:
        core, _ = crash(f"./{exe.name}", tmp_path, "segv", "2")
    live = layout_fields((tmp_path / "live-stat").read_text())
    assert all(live.values()), f"the live process shows unset fields: {live}"
    with mounted(core) as mnt:
        shown = layout_fields((mnt / "stat").read_text())
        assert shown == live, f"mount {shown} != live {live}"
        with revived(mnt) as ctl:
            pid = int(ctl["pid"][0])
            again = layout_fields(pathlib.Path(f"/proc/{pid}/stat").read_text())
        assert again == shown, f"revived {again} != mount {shown}"
