"""Inputs the fuzzer (make fuzz) found troublesome, replayed through the real binary.

Each file in tests/fuzz/regressions/ is opened the way a user would: `corefs --cat` of every file
of its tree.  corefs must either render it (exit 0) or refuse it with one line (exit 1); it must
never die of a signal.  The timeout only turns a hang into a failure; it is not a speed goal.
"""
import subprocess

import pytest

from conftest import COREFS, PROJECT_ROOT

REGRESSIONS = sorted(p for p in (PROJECT_ROOT / "tests" / "fuzz" / "regressions").iterdir()
                     if p.name != "README")


def cat(core, path):
    return subprocess.run([str(COREFS), "--cat", path, str(core)], capture_output=True,
                          timeout=120)


@pytest.mark.parametrize("core", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_regression_input_renders_or_is_refused(core):
    p = cat(core, "core.json")
    assert p.returncode in (0, 1), f"corefs died: {p.returncode} {p.stderr.decode()}"
    if p.returncode == 1:
        assert len(p.stderr.decode().splitlines()) == 1
        return
    paths = ["maps", "auxv", "comm", "cmdline", "environ", "exe"]
    tids = cat(core, "task").stdout.decode().split()
    paths += [f"task/{t}/regs" for t in tids[:16]]
    for path in paths:
        r = cat(core, path)
        assert r.returncode in (0, 1), f"{path}: corefs died: {r.returncode}"
