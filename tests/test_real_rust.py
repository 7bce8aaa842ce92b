"""Rust backtraces on a real Rust program: names demangled as gdb and binutils demangle them.

tests/progs/rs_nested.rs is built by Debian's rustc (/usr/bin/rustc) twice: with the legacy
symbol mangling (the default: `_ZN...17h<hash>E`, with `$LT$`, `$u7b$`... escapes) and with v0
(`-C symbol-mangling-version=v0`, stable since Rust 1.59: `_RNvCs..._9rs_nested9innermost`); the
standard library comes prebuilt with legacy names, so the v0 build holds both.  Debug information
is stripped (`-C strip=debuginfo`, call-frame tables kept), so that gdb names the frames from the
symbol tables too, as corefs does, rather than from DWARF's own spelling ("{impl#0}").  Each
program aborts three calls deep and is dumped by the kernel.

Oracles, all independent of corefs:
* gdb's backtrace of the same core (its Python API, as tests/test_stack.py drives it): every
  frame in the executable has the same pc and, once gdb's verbose parts are cut, the same name.
  gdb keeps in minimal symbols' names what libiberty prints with DMGL_VERBOSE: the legacy hash
  ("::h" and 16 hex digits) and v0's crate disambiguators ("[" hex "]").  binutils' nm -C and
  addr2line -C, and Rust's own backtraces, leave them out, as corefs does.
* binutils' `nm -C`: the name of the symbol at the frame's function address (pc - offset).
* the program's own functions, innermost first, as its source calls them.
"""
import pathlib
import re
import signal

import pytest

from conftest import PROGS, corefs_cat, crash
from test_stack import corefs_stacks, gdb_stacks, run

RUSTC = pathlib.Path("/usr/bin/rustc")
pytestmark = pytest.mark.skipif(not RUSTC.exists(), reason="Debian's rustc is not installed")

MANGLINGS = {"legacy": [], "v0": ["-C", "symbol-mangling-version=v0"]}
# The main thread's own frames, innermost first, by mangling.
OWN = {
    "legacy": ["rs_nested::innermost", "rs_nested::call",
               "<rs_nested::Outer<T> as rs_nested::Runner>::run", "rs_nested::main"],
    "v0": ["rs_nested::innermost",
           "rs_nested::call::<<rs_nested::Outer<u8> as rs_nested::Runner>::run::{closure#0}>",
           "<rs_nested::Outer<u8> as rs_nested::Runner>::run", "rs_nested::main"],
}
GDB_VERBOSE = re.compile(r"::h[0-9a-f]{16}$|\[[0-9a-f]+\]")
CLOSURE = {"legacy": "::{{closure}}", "v0": "::{closure#0}"}
MANGLED = re.compile(r"^_ZN|^_R|\$(LT|GT|u[0-9a-f]+|RF|BP|LP|RP|C)\$|17h[0-9a-f]{16}E")


@pytest.fixture(scope="module", params=list(MANGLINGS))
def rust(request, tmp_path_factory):
    mangling = request.param
    d = tmp_path_factory.mktemp(f"rust-{mangling}")
    exe = d / "rs_nested"
    run(RUSTC, "-O", "-C", "strip=debuginfo", *MANGLINGS[mangling], "-o", exe,
        PROGS / "rs_nested.rs")
    core, _ = crash(exe, d, expect_signal=signal.SIGABRT)
    return mangling, exe, core


def load_address(core, exe):
    return min(int(x.split("-")[0], 16) for x in corefs_cat(core, "modules").stdout.decode()
               .splitlines() if x.endswith(str(exe)))


def nm_names(exe):
    """File address -> the demangled names binutils gives the symbols there."""
    out = {}
    for line in run("nm", "-C", "--defined-only", exe).stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            out.setdefault(int(parts[0], 16), set()).add(parts[2])
    return out


def test_the_symbols_are_mangled(rust):
    """The executable really holds the mangling under test (and v0 builds hold legacy std)."""
    mangling, exe, _ = rust
    syms = run("nm", "--defined-only", exe).stdout
    assert re.search(r" _ZN9rs_nested9innermost17h[0-9a-f]{16}E$", syms, re.M) or \
        mangling != "legacy"
    assert re.search(r" _RNvCs[0-9A-Za-z_]+_9rs_nested9innermost$", syms, re.M) or \
        mangling != "v0"
    assert re.search(r" _ZN3std3sys4unix14abort_internal17h[0-9a-f]{16}E$", syms, re.M)


def test_rust_names_demangled(rust, tmp_path):
    mangling, exe, core = rust
    stacks, cj, _ = corefs_stacks(core)
    gdb = gdb_stacks(core, exe, tmp_path)
    nm = nm_names(exe)
    load = load_address(core, exe)
    assert len(stacks) == 2
    compared = 0
    for tid, frames in stacks.items():
        by_pc = {g["pc"]: g for g in gdb[tid] if not g["inline"]}
        for f in frames:
            assert f.name is None or not MANGLED.search(f.name), f
            if f.module != str(exe):
                continue
            assert f.name is not None, f
            assert f.name in nm.get(f.pc - f.offset - load, ()), (f, nm.get(f.pc - f.offset - load))
            if f.pc in by_pc and by_pc[f.pc]["name"] != "main":
                assert f.name == GDB_VERBOSE.sub("", by_pc[f.pc]["name"]), (f, by_pc[f.pc])
                compared += 1
    # gdb reaches every Rust frame corefs shows on both threads but main's callers in libc.
    assert compared >= 15, compared
    main = stacks[cj["pid"]]
    own = [f.name for f in main if f.name and f.name.startswith(("rs_nested", "<rs_nested"))]
    assert own == OWN[mangling]
    names = [f.name for f in main]
    above = names[names.index("rs_nested::innermost") - 2:names.index("rs_nested::innermost")]
    assert above[0].startswith("std::sys::") and above[0].endswith("::abort_internal"), above
    assert above[1] == "std::process::abort", above
    # Escapes and closures decoded; no hash left in any name (gdb's verbose parts).
    every = [f.name for frames in stacks.values() for f in frames if f.name]
    assert any(CLOSURE[mangling] in n for n in every), every
    assert not [n for n in every if GDB_VERBOSE.search(n)]
