"""The FDO packaging metadata note (issue 12's `.note.package`): a program linked with
`--package-metadata=JSON` (binutils 2.39+) carries its package in a note of owner "FDO", type
0xcafe1a7e; core.json's `modules` shows it as the JSON object the linker wrote, as
systemd-coredump does, from the core's copy of the object's first page, so also when the file
is gone.  Oracles: the JSON given to the linker and `readelf -n` on the executable."""
import json
import shutil
import signal
import subprocess

from conftest import corefs_cat, crash

PACKAGE = {"type": "deb", "name": "corefs-test", "version": "1.2-3", "architecture": "amd64",
           "os": "debian", "osVersion": "12"}
SOURCE = "int main(void) { *(volatile int *)0 = 1; return 0; }\n"


def modules(core):
    return {m["name"]: m for m in json.loads(corefs_cat(core, "core.json").stdout)["modules"]}


def test_the_package_note_is_in_core_json(tmp_path):
    src = tmp_path / "pkg.c"
    src.write_text(SOURCE)
    exe = tmp_path / "pkg"
    subprocess.run(["gcc", "-O0", "-o", str(exe), str(src), "-Xlinker",
                    "--package-metadata=" + json.dumps(PACKAGE, separators=(",", ":"))],
                   check=True)
    notes = subprocess.run(["readelf", "-n", str(exe)], capture_output=True, text=True,
                           check=True).stdout
    assert "FDO_PACKAGING_METADATA" in notes and '"name":"corefs-test"' in notes, notes
    core, _ = crash(exe, tmp_path, expect_signal=signal.SIGSEGV)
    mods = modules(core)
    assert mods[str(exe)]["package"] == PACKAGE
    # Debian's libc and the vDSO carry no such note.
    assert all(m["package"] is None for name, m in mods.items() if name != str(exe))
    # The file gone, the note is read from the core's copy of the executable's first page.
    shutil.move(exe, tmp_path / "elsewhere")
    mods = modules(core)
    assert mods[str(exe)]["file"] == "missing"
    assert mods[str(exe)]["package"] == PACKAGE


def test_no_note_is_null(tmp_path):
    src = tmp_path / "plain.c"
    src.write_text(SOURCE)
    exe = tmp_path / "plain"
    subprocess.run(["gcc", "-O0", "-o", str(exe), str(src)], check=True)
    core, _ = crash(exe, tmp_path, expect_signal=signal.SIGSEGV)
    assert modules(core)[str(exe)]["package"] is None
