"""The C unit tests (tests/unit/*.c), each built plain (build/unit) and under ASan+UBSan
(build/unit-asan) by `make unit`, run as one pytest test per binary so they count in the summary.

A binary passes when it exits 0 and its stderr holds no sanitizer report.  A test source whose
binary is missing fails (run `make unit`), so a build that silently produced nothing is not a pass.
"""
import os
import re
import subprocess

import pytest

from conftest import PROJECT_ROOT

KINDS = ("unit", "unit-asan")
SANITIZER_REPORT = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|SUMMARY: \w+Sanitizer"
                              r"|runtime error:|AddressSanitizer:DEADLYSIGNAL")


def binaries():
    names = {p.stem for p in (PROJECT_ROOT / "tests" / "unit").glob("*.c")}
    for kind in KINDS:
        d = PROJECT_ROOT / "build" / kind
        if d.is_dir():
            names |= {p.name for p in d.iterdir() if p.is_file() and os.access(p, os.X_OK)}
    return [(kind, name) for name in sorted(names) for kind in KINDS]


@pytest.mark.parametrize("kind,name", binaries(), ids=[f"{k}/{n}" for k, n in binaries()])
def test_unit_binary(kind, name):
    exe = PROJECT_ROOT / "build" / kind / name
    src = PROJECT_ROOT / "tests" / "unit" / f"{name}.c"
    assert exe.is_file(), f"{exe} is not built: run `make unit`"
    if src.exists() and src.stat().st_mtime > exe.stat().st_mtime:
        pytest.fail(f"{exe} is older than {src}: run `make unit`")
    env = dict(os.environ,
               ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    p = subprocess.run([str(exe)], cwd=PROJECT_ROOT, capture_output=True, timeout=300, env=env)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    report = SANITIZER_REPORT.search(err)
    assert not report, f"sanitizer report from {exe}:\n{err}"
    assert p.returncode == 0, f"{exe} exited {p.returncode}:\n{out}\n{err}"
