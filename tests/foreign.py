"""tests/foreign.py — cores of other architectures, made at test time, and their oracles.

The programs are tests/progs/bt_threads.c with its library bt_lib.c (threads parked at known
depths, one inside a signal handler, the main thread dying in a library of its own), built with
clang for the target (Debian's gcc cross compilers conflict with gcc-multilib, which the 32-bit
x86 builds need; clang uses the cross binutils and the libc6-dev-*-cross sysroots in
/usr/<triplet>) and run under qemu-user with `-L /usr/<triplet>`, which writes
qemu_<name>_<date>-<time>_<pid>.core in the cwd (../shared/RECIPES.md: no NT_FILE; module paths
are the guest's, /lib/libc.so.6).  i386 is built with gcc -m32 and crashes natively: a kernel core.

Executables are not PIE: gdb 13 does not relocate a PIE executable of a qemu core (its ELF
header is not in the core), and says "core file may not match" with no shared libraries.

Oracles: gdb-multiarch (set sysroot /usr/<triplet>, solib-search-path for the program's own
library, file, core-file; info sharedlibrary, info registers and bt of every thread) and eu-stack
--core -e (elfutils 0.188 has no --sysroot: it names only the executable's frames of a foreign
core)."""
import pathlib
import re
import shutil
import subprocess

from conftest import PROGS, crash, _allow_core

# name: (triplet, qemu, gdb architecture); triplet None: native (gcc -m32, a kernel core)
ARCHES = {
    "aarch64": ("aarch64-linux-gnu", "qemu-aarch64", "aarch64"),
    "arm": ("arm-linux-gnueabihf", "qemu-arm", "arm"),
    "ppc64le": ("powerpc64le-linux-gnu", "qemu-ppc64le", "powerpc:common64"),
    "s390x": ("s390x-linux-gnu", "qemu-s390x", "s390:64-bit"),
    "i386": (None, None, "i386"),
}


def sysroot(arch):
    """The directory the target's libraries are under, as the guest saw them at /: None natively."""
    triplet = ARCHES[arch][0]
    return f"/usr/{triplet}" if triplet else None


def make_sysroot(arch, progdir):
    """A sysroot as the guest saw its files: /usr/<triplet>'s directories, and progdir (the
    program and its library, at their own path) inside it.  None natively."""
    triplet = ARCHES[arch][0]
    if triplet is None:
        return None
    progdir = pathlib.Path(progdir).resolve()
    root = progdir / "sysroot"
    if root.exists():
        return root
    root.mkdir()
    for entry in pathlib.Path(f"/usr/{triplet}").iterdir():
        (root / entry.name).symlink_to(entry)
    inside = root / progdir.relative_to("/")
    inside.mkdir(parents=True)
    for f in progdir.iterdir():
        if f.is_file():
            (inside / f.name).symlink_to(f)
    return root


def missing_tools(arch):
    """What this machine lacks to make arch's core: a sentence, or None."""
    triplet, qemu, _ = ARCHES[arch]
    need = ["gdb-multiarch", "eu-stack"]
    if triplet:
        need += ["clang", qemu, f"{triplet}-ld"]
        if not pathlib.Path(f"/usr/{triplet}/lib/libc.so.6").exists():
            return f"no /usr/{triplet}/lib/libc.so.6 (libc6-dev-*-cross)"
    else:
        need += ["gcc"]
    for tool in need:
        if not shutil.which(tool):
            return f"{tool} is not installed"
    return None


def compiler(arch):
    triplet = ARCHES[arch][0]
    if triplet is None:
        return ["gcc", "-m32"]
    # clang knows no noipa: noinline keeps every call a frame.
    return ["clang", f"--target={triplet}", f"-fuse-ld=/usr/bin/{triplet}-ld", "-Dnoipa=noinline",
            "-Wno-unknown-attributes"]


def build(arch, outdir, frame_pointers):
    """bt_threads and its libbt_lib.so for arch in outdir; returns the executable's path."""
    d = pathlib.Path(outdir)
    d.mkdir(parents=True, exist_ok=True)
    cc = compiler(arch)
    flags = ["-g", "-O2", "-fno-optimize-sibling-calls", "-fno-inline",
             "-fno-omit-frame-pointer" if frame_pointers else "-fomit-frame-pointer"]
    subprocess.run([*cc, *flags, "-fPIC", "-shared", "-o", str(d / "libbt_lib.so"),
                    str(PROGS / "bt_lib.c")], check=True)
    subprocess.run([*cc, *flags, "-fno-pie", "-no-pie", "-o", str(d / "bt_threads"),
                    str(PROGS / "bt_threads.c"), f"-L{d}", "-lbt_lib", f"-Wl,-rpath,{d}",
                    "-pthread"], check=True)
    return d / "bt_threads"


def run_to_core(arch, exe, cwd, *args, timeout=60):
    """Run exe (under qemu-user for a foreign arch) in cwd until it dies; returns the target core:
    qemu's qemu_<name>_*.core (the host core qemu itself may leave as core is removed), or the
    kernel's."""
    triplet, qemu, _ = ARCHES[arch]
    cwd = pathlib.Path(cwd)
    if triplet is None:
        core, _ = crash(exe, cwd, *args, timeout=timeout)
        return core
    before = set(cwd.glob("qemu_*.core"))
    p = subprocess.run([qemu, "-L", f"/usr/{triplet}", str(exe), *args], cwd=cwd,
                       capture_output=True, preexec_fn=_allow_core, timeout=timeout)
    assert p.returncode != 0, f"{exe} under {qemu} did not die: {p.stderr.decode()}"
    for host in cwd.glob("core*"):
        host.unlink()
    cores = sorted(set(cwd.glob("qemu_*.core")) - before)
    assert cores, f"{qemu} wrote no core in {cwd} (rc {p.returncode}): {p.stderr.decode()}"
    return cores[-1]


def gdb(arch, core, exe, root, *commands, timeout=120):
    """gdb-multiarch's output of commands on the core, with the sysroot root (None: /), and
    whether it ended: gdb 13 can spin for ever unwinding qemu's signal frames (killed after
    timeout, what it printed is kept)."""
    cmd = ["gdb-multiarch", "-nx", "-batch", "-ex", "set pagination off",
           "-ex", "set width 0", "-ex", "set print thread-events off",
           # libthread_db of the host hangs on a foreign core; the walk of a broken stack ends
           "-ex", "set libthread-db-search-path /nonexistent", "-ex", "set backtrace limit 64"]
    if root:
        cmd += ["-ex", f"set sysroot {root}"]
    cmd += ["-ex", f"file {exe}",
            "-ex", f"core-file {core}"]
    for c in commands:
        cmd += ["-ex", c]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout, True
    except subprocess.TimeoutExpired as e:
        out = e.stdout or b""
        return (out.decode() if isinstance(out, bytes) else out), False


def gdb_backtraces(arch, core, exe, root, threads, timeout=15):
    """{tid: ([(pc, function)], complete)} for {tid: gdb's thread number}, one gdb per thread."""
    out = {}
    for tid, num in threads.items():
        text, done = gdb(arch, core, exe, root, f"thread {num}", "echo <bt>\\n", "bt",
                         timeout=timeout)
        out[tid] = (gdb_frames(text.split("<bt>\n", 1)[-1]), done)
    return out


_THREAD = re.compile(r"^Thread (\d+) \((?:Thread 0x[0-9a-f]+ )?\(?LWP (\d+)\)?\)?:?", re.M)


def per_thread(text):
    """`thread apply all ...` output split by thread: {tid: (gdb's thread number, text)}."""
    out = {}
    marks = list(_THREAD.finditer(text))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out[int(m.group(2))] = (int(m.group(1)), text[m.end():end])
    return out


def gdb_registers(text):
    """{name: value} from `info registers` (values gdb could read)."""
    regs = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+)\s+(0x[0-9a-f]+)\s", line)
        if m:
            regs[m.group(1)] = int(m.group(2), 16)
    return regs


_FRAME = re.compile(r"^#(\d+)\s+(?:(0x[0-9a-f]+) in )?(\S+) \(")


def gdb_frames(text):
    """[(pc or None, function)] from `bt`: pc None for frame lines gdb prints without one."""
    frames = []
    for line in text.splitlines():
        if re.match(r"^#\d+\s+<signal handler called>", line):
            frames.append((None, "<signal>"))	# corefs: the trampoline's "[signal frame]"
            continue
        m = _FRAME.match(line)
        if m:
            frames.append((int(m.group(2), 16) if m.group(2) else None, m.group(3)))
    return frames


def gdb_sharedlibs(text):
    """{path: (from, to)} from `info sharedlibrary` (the .text range gdb prints)."""
    libs = {}
    for line in text.splitlines():
        m = re.match(r"^(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+\S+(?: \(\*\))?\s+(/\S+)$", line)
        if m:
            libs[m.group(3)] = (int(m.group(1), 16), int(m.group(2), 16))
    return libs


def eu_stack(core, exe, timeout=60):
    """eu-stack's frames per thread: {tid: [(pc, function or None)]}."""
    p = subprocess.run(["eu-stack", "-m", "--core", str(core), "-e", str(exe)],
                       capture_output=True, text=True, timeout=timeout)
    out, tid = {}, None
    for line in p.stdout.splitlines():
        m = re.match(r"^TID (\d+):", line)
        if m:
            tid = int(m.group(1))
            out[tid] = []
            continue
        m = re.match(r"^#\d+\s+0x([0-9a-f]+)\s*(\S*)", line)
        if m and tid is not None:
            out[tid].append((int(m.group(1), 16), m.group(2) or None))
    return out
