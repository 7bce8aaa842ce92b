"""`make demo` (contrib/demo.sh) runs to its end: it crashes the sample, mounts its core, shows
maps, the signalled thread's registers, core.json and a string read through mem, and unmounts."""
import subprocess

from conftest import PROJECT_ROOT


def test_the_demo_runs_to_its_end():
    p = subprocess.run(["sh", str(PROJECT_ROOT / "contrib" / "demo.sh")], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "corefs demo" in out and "rip 0x" in out and "killed by SIGSEGV" in out, out
    assert out.rstrip().endswith("done: nothing left mounted")
