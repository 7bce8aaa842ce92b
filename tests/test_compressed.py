"""Compressed cores: a systemd-coredump store (core.COMM.UID.BOOTID.PID.USEC.zst, .xz, .lz4) mounts
as a /proc of its dead processes, and one compressed core mounts alone.

The cores are kernel cores made at test time (tests/progs/args_env.c, rv_crash.c), compressed
with the real zstd, xz and lz4 tools and named as systemd-coredump names them, with the core's
mtime.  Oracles: each core uncompressed, through `corefs --cat` and a mount of it; its bytes read
straight from its ELF program headers (here, not by corefs); what the program saved of its own
/proc; gdb on the uncompressed core against gdb on the process revived from the compressed one.
"""
import errno
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import (COREFS, build_prog, corefs_cat, crash, mounted, pid_of, pt_loads,
                      wait_until)
from test_revive import assert_same_threads_and_registers, gdb_view, proc_state, revived
from test_revive import subreaper  # noqa: F401 (an autouse fixture: revived processes come here)

EXT = {"zstd": ".zst", "xz": ".xz", "lz4": ".lz4"}
COMPRESS = {"zstd": ["zstd", "-q", "-c"], "xz": ["xz", "-c"], "lz4": ["lz4", "-q", "-c"]}
BOOT_ID = pathlib.Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")




def coredump_name(comm, pid, mtime_ns, codec):
    """systemd-coredump's file name: core.COMM.UID.BOOTID.PID.USEC and the codec's extension."""
    return f"core.{comm}.{os.getuid()}.{BOOT_ID}.{pid}.{mtime_ns // 1000}{EXT[codec]}"


def compress(core, dest, codec):
    """Compress core into dest with the codec's own tool; dest gets the core's times."""
    with open(dest, "wb") as f:
        subprocess.run([*COMPRESS[codec], str(core)], stdout=f, check=True)
    st = core.stat()
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
    return dest


def load_segments(core):
    """The core's bytes, and (vaddr, offset, filesz) of every PT_LOAD (conftest.pt_loads)."""
    return core.read_bytes(), [(l.vaddr, l.offset, l.filesz) for l in pt_loads(core)]


def core_bytes(core, addr, n):
    """The n bytes at addr as the core file holds them, or None when it holds none there."""
    data, segs = load_segments(core)
    for vaddr, offset, filesz in segs:
        if vaddr <= addr < vaddr + filesz:
            n = min(n, vaddr + filesz - addr)
            return data[offset + addr - vaddr:offset + addr - vaddr + n]
    return None


def read_mem(mem, addr, n):
    with open(mem, "rb", buffering=0) as f:
        f.seek(addr)
        try:
            return f.read(n)
        except OSError as e:
            return e.errno


def recorded_addrs(dead_dir):
    """Addresses the program wrote down: its maps' starts (args_env) or its record (rv_crash)."""
    addrs = set()
    maps = dead_dir / "maps.live"
    if maps.exists():
        for line in maps.read_text().splitlines():
            start = int(line.split("-", 1)[0], 16)
            if start < 1 << 63:
                addrs.add(start)
    record = dead_dir / "record"
    if record.exists():
        addrs |= {int(line.split()[1], 16) for line in record.read_text().splitlines()}
    return sorted(addrs)


def corefs_memfds(mnt):
    """How many decompressed cores (memfds named corefs:...) the daemon serving mnt holds."""
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            argv = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0] == str(COREFS).encode() and str(mnt).encode() in argv:
            n = 0
            for fd in (p / "fd").iterdir():
                try:
                    n += os.readlink(fd).startswith("/memfd:corefs:")
                except OSError:
                    pass
            return n
    raise AssertionError(f"no corefs daemon serving {mnt}")


def daemon_memfd_bytes(mnt):
    """Bytes of memory each decompressed core of the daemon serving mnt holds."""
    for p in pathlib.Path("/proc").iterdir():
        try:
            argv = (p / "cmdline").read_bytes().split(b"\0") if p.name.isdigit() else [b""]
        except OSError:
            continue
        if argv[0] == str(COREFS).encode() and str(mnt).encode() in argv:
            return [os.stat(fd).st_blocks * 512 for fd in (p / "fd").iterdir()
                    if os.readlink(fd).startswith("/memfd:corefs:")]
    raise AssertionError(f"no corefs daemon serving {mnt}")


def numeric(names):
    return sorted(int(n) for n in names if n.isdigit())


class Dead:
    def __init__(self, core, cwd):
        self.core, self.dir = core, cwd
        self.pid = pid_of(core)
        self.mtime_ns = core.stat().st_mtime_ns
        live = cwd / "cmdline.live"
        self.cmdline = live.read_bytes() if live.exists() else None


@pytest.fixture(scope="module")
def dead(tmp_path_factory):
    """Four kernel cores of args_env, each its own pid, and one of rv_crash (64 MiB touched)."""
    base = tmp_path_factory.mktemp("compressed")
    exe = build_prog("args_env", base)
    out = []
    for i in range(4):
        d = base / f"k{i}"
        d.mkdir()
        core, _ = crash(exe, d, f"run{i}", "x" * i)
        out.append(Dead(core, d))
    d = base / "rv"
    d.mkdir()
    rv = build_prog("rv_crash", d, "-w")
    core, _ = crash(rv, d, "main", str(d / "record"))
    out.append(Dead(core, d))
    return out


@pytest.fixture(scope="module")
def store(dead, tmp_path_factory):
    """A systemd-coredump store: one core per codec, one more zstd core, the rv_crash core in
    zstd, and files that are not cores."""
    d = tmp_path_factory.mktemp("coredump")
    codecs = ["zstd", "xz", "lz4", "zstd", "zstd"]
    files = []
    for x, codec in zip(dead, codecs):
        comm = "rv_crash" if x is dead[-1] else "args_env"
        files.append(compress(x.core, d / coredump_name(comm, x.pid, x.mtime_ns, codec), codec))
    (d / "README").write_text("not a core\n")
    (d / "notes.zst").write_bytes(subprocess.run(["zstd", "-q", "-c"], input=b"hello\n" * 100,
                                                 capture_output=True, check=True).stdout)
    return d, files


def tids(tree):
    return sorted(os.listdir(tree / "task"))


def assert_same_files(tree, orig, x, compressed_path):
    """Every file of a compressed core's tree equals the uncompressed core's (corefs --cat of it,
    its mount for mem), and mem equals the core file's own bytes at the recorded addresses."""
    cat = lambda path: corefs_cat(x.core, path).stdout  # noqa: E731
    for name in ("maps", "cmdline", "environ", "auxv", "comm", "modules"):
        assert (tree / name).read_bytes() == cat(name), name
    # stat is the same but for rss (field 24): a page of zeros the kernel wrote as data is a
    # hole once decompressed (README), so a compressed core counts no more than its original.
    got, want = (tree / "stat").read_text().split(), cat("stat").decode().split()
    assert int(got[23]) <= int(want[23])
    assert got[:23] + got[24:] == want[:23] + want[24:]
    if x.cmdline is not None:
        assert (tree / "cmdline").read_bytes() == x.cmdline
    got = json.loads((tree / "core.json").read_bytes())
    want = json.loads(cat("core.json"))
    assert got.pop("compressed") == {"codec": compressed_codec(compressed_path),
                                     "size": compressed_path.stat().st_size}
    assert want.pop("compressed") is None
    assert got.pop("core") == str(compressed_path) and want.pop("core") == str(x.core)
    assert got == want
    assert got["file_size"] == x.core.stat().st_size and got["problems"] == []
    assert tids(tree) == tids(orig) and tids(tree)
    for tid in tids(tree):
        assert (tree / "task" / tid / "regs").read_bytes() == cat(f"task/{tid}/regs")
    addrs = recorded_addrs(x.dir)
    held = 0
    for a in addrs:
        mine, theirs = read_mem(tree / "mem", a, 4096), read_mem(orig / "mem", a, 4096)
        assert mine == theirs, hex(a)
        raw = core_bytes(x.core, a, 4096)
        if raw is not None:
            assert mine[:len(raw)] == raw, hex(a)
            held += 1
    assert held >= 3, "the recorded addresses hit the core's bytes"


def compressed_codec(path):
    return {v: k for k, v in EXT.items()}[path.suffix]


def test_store_is_a_proc_of_its_compressed_cores(dead, store):
    d, files = store
    with mounted(d) as mnt:
        assert numeric(os.listdir(mnt)) == sorted(x.pid for x in dead)
        assert sorted(os.listdir(mnt / "by-name")) == sorted(f.name for f in files)
        # Listing took the pids from the names: nothing was decompressed yet.
        assert corefs_memfds(mnt) == 0
        for i, (x, f) in enumerate(zip(dead, files)):
            with mounted(x.core) as orig:
                assert_same_files(mnt / str(x.pid), orig, x, f)
            assert corefs_memfds(mnt) == i + 1, "each core decompressed once, when first used"
        assert (mnt / "by-name" / files[0].name / "cmdline").read_bytes() == dead[0].cmdline
        assert not (mnt / "README").exists() and not (mnt / "by-name" / "notes.zst").exists()
        assert corefs_memfds(mnt) == len(files)


def test_cat_through_a_store(dead, store):
    d, _ = store
    x = dead[1]
    assert corefs_cat(d, f"{x.pid}/cmdline").stdout == x.cmdline
    assert corefs_cat(d, f"{x.pid}/maps").stdout == corefs_cat(x.core, "maps").stdout


def test_core_added_compressed_while_mounted_appears(dead, tmp_path):
    d = tmp_path / "coredump"
    d.mkdir()
    a, b, c = dead[0], dead[1], dead[2]
    compress(a.core, d / coredump_name("args_env", a.pid, a.mtime_ns, "zstd"), "zstd")
    with mounted(d) as mnt:
        assert numeric(os.listdir(mnt)) == [a.pid]
        # As systemd-coredump writes: a hidden temporary file, renamed when complete.
        tmp = d / ".#core.args_env.tmp"
        compress(b.core, tmp, "xz")
        tmp.rename(d / coredump_name("args_env", b.pid, b.mtime_ns, "xz"))
        wait_until(lambda: (mnt / str(b.pid)).exists(), "a new compressed core appears")
        assert (mnt / str(b.pid) / "cmdline").read_bytes() == b.cmdline
        # A compressed file without systemd's name: decompressed when found, to learn its pid.
        compress(c.core, d / "plain.lz4", "lz4")
        wait_until(lambda: c.pid in numeric(os.listdir(mnt)), "a plainly named one is listed")
        assert (mnt / str(c.pid) / "cmdline").read_bytes() == c.cmdline
        assert numeric(os.listdir(mnt)) == sorted([a.pid, b.pid, c.pid])


@pytest.mark.parametrize("codec", ["zstd", "xz", "lz4"])
def test_one_compressed_core_mounts(dead, tmp_path, codec):
    x = dead[0]
    f = compress(x.core, tmp_path / f"core{EXT[codec]}", codec)
    with mounted(f) as mnt, mounted(x.core) as orig:
        assert_same_files(mnt, orig, x, f)
    with mounted(f, "--proc") as mnt:
        assert numeric(os.listdir(mnt)) == [x.pid]
        assert (mnt / str(x.pid) / "cmdline").read_bytes() == x.cmdline
    before = f.read_bytes()
    assert corefs_cat(f, "maps").stdout == corefs_cat(x.core, "maps").stdout
    assert f.read_bytes() == before, "the compressed file is never written"


def one_line_error(core, *opts, env=None):
    p = subprocess.run([str(COREFS), *opts, "--cat", "maps", str(core)], capture_output=True,
                       env=env)
    err = p.stderr.decode()
    assert p.returncode == 1 and err.count("\n") == 1 and err.startswith(f"corefs: {core}: "), err
    assert p.stdout == b""
    return err


def test_truncated_zst_is_the_core_up_to_the_cut(dead, tmp_path):
    x = dead[-1]	# 90 MiB of core, most of it a touched 64 MiB mapping
    whole = compress(x.core, tmp_path / "whole.zst", "zstd").read_bytes()
    cut = tmp_path / f"core.rv_crash.0.{BOOT_ID}.{x.pid}.1.zst"
    cut.write_bytes(whole[:len(whole) * 2 // 3])
    j = json.loads(corefs_cat(cut, "core.json").stdout)
    assert 0 < j["file_size"] < x.core.stat().st_size
    assert j["compressed"] == {"codec": "zstd", "size": cut.stat().st_size}
    assert any(p.startswith("truncated: the zstd stream ends early") for p in j["problems"])
    assert any("segments lie past the end of the file" in p for p in j["problems"])
    # What the stream held reads as the core; bytes past the cut are EIO.
    data = x.core.read_bytes()[:j["file_size"]]
    _, segs = load_segments(x.core)
    with mounted(cut) as mnt:
        whole_seg = [s for s in segs if s[2] and s[1] + s[2] <= len(data)]
        lost_seg = [s for s in segs if s[2] and s[1] >= len(data) and s[0] < 1 << 63]
        assert whole_seg and lost_seg
        for vaddr, offset, filesz in whole_seg[:8]:
            assert read_mem(mnt / "mem", vaddr, 64) == data[offset:offset + 64]
        for vaddr, _, _ in lost_seg:
            assert read_mem(mnt / "mem", vaddr, 64) == errno.EIO, hex(vaddr)
    # In a store it is listed under its pid, with its problems.
    d = tmp_path / "store"
    d.mkdir()
    shutil.copy(cut, d / cut.name)
    with mounted(d) as mnt:
        assert numeric(os.listdir(mnt)) == [x.pid]
        j = json.loads((mnt / str(x.pid) / "core.json").read_text())
        assert any(p.startswith("truncated: the zstd stream ends early") for p in j["problems"])


def test_truncated_before_the_headers_is_an_error(dead, tmp_path):
    whole = compress(dead[0].core, tmp_path / "whole.zst", "zstd").read_bytes()
    for n in (6, 40):
        cut = tmp_path / f"cut{n}.zst"
        cut.write_bytes(whole[:n])
        err = one_line_error(cut)
        assert "truncated zstd stream: unexpected end of input" in err


def test_corrupt_zst_is_refused(dead, tmp_path):
    x = dead[0]
    data = bytearray(compress(x.core, tmp_path / "whole.zst", "zstd").read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 16):
        data[i] ^= 0x55
    bad = tmp_path / f"core.args_env.0.{BOOT_ID}.{x.pid}.2.zst"
    bad.write_bytes(bytes(data))
    err = one_line_error(bad)
    assert "corrupt zstd stream: " in err
    # Not mounted either.
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    p = subprocess.run([str(COREFS), "-f", str(bad), str(mnt)], capture_output=True, timeout=30)
    assert p.returncode != 0 and p.stderr.decode().count("\n") == 1
    assert not os.path.ismount(mnt)
    # In a store: listed by its name's pid until first used, then ignored as a file that is not
    # a core is.
    d = tmp_path / "store"
    d.mkdir()
    shutil.copy(bad, d / bad.name)
    with mounted(d) as mnt:
        assert numeric(os.listdir(mnt)) == [x.pid]
        assert not (mnt / str(x.pid)).exists()
        assert numeric(os.listdir(mnt)) == []
        assert os.listdir(mnt / "by-name") == []


def test_a_name_whose_pid_lies(dead, tmp_path):
    x, other = dead[0], dead[1]
    d = tmp_path / "coredump"
    d.mkdir()
    liar = x.pid + 1000
    compress(x.core, d / coredump_name("args_env", liar, x.mtime_ns, "zstd"), "zstd")
    compress(other.core, d / coredump_name("args_env", other.pid, other.mtime_ns, "xz"), "xz")
    with mounted(d) as mnt:
        # Until the core is opened its name is all there is.
        assert numeric(os.listdir(mnt)) == sorted([liar, other.pid])
        # Asking for that pid opens the core: it is not that pid, and it moves to its own.
        assert not (mnt / str(liar)).exists()
        assert numeric(os.listdir(mnt)) == sorted([x.pid, other.pid])
        assert (mnt / str(x.pid) / "cmdline").read_bytes() == x.cmdline
        assert json.loads((mnt / str(x.pid) / "core.json").read_text())["pid"] == x.pid


def test_a_name_whose_pid_lies_is_corrected_by_any_use(dead, tmp_path):
    x = dead[2]
    d = tmp_path / "coredump"
    d.mkdir()
    liar = x.pid + 2000
    f = compress(x.core, d / coredump_name("args_env", liar, x.mtime_ns, "lz4"), "lz4")
    with mounted(d) as mnt:
        assert numeric(os.listdir(mnt)) == [liar]
        assert (mnt / "by-name" / f.name / "cmdline").read_bytes() == x.cmdline
        assert numeric(os.listdir(mnt)) == [x.pid]


def test_decompressed_size_limit(dead, tmp_path):
    f = compress(dead[0].core, tmp_path / "core.zst", "zstd")
    env = dict(os.environ, COREFS_MAX_DECOMPRESSED="64K")
    err = one_line_error(f, env=env)
    assert "more than 65536 bytes of data, over the limit (COREFS_MAX_DECOMPRESSED)" in err
    env["COREFS_MAX_DECOMPRESSED"] = "1M"
    p = subprocess.run([str(COREFS), "--cat", "maps", str(f)], capture_output=True, env=env)
    assert p.returncode == 0 and p.stdout == corefs_cat(dead[0].core, "maps").stdout
    env["COREFS_MAX_DECOMPRESSED"] = "lots"
    assert "COREFS_MAX_DECOMPRESSED=lots is not a size" in one_line_error(f, env=env)


def test_compressed_file_that_is_not_a_core(tmp_path):
    f = tmp_path / "text.xz"
    f.write_bytes(subprocess.run(["xz", "-c"], input=b"\0" * 100000 + b"not a core\n",
                                 capture_output=True, check=True).stdout)
    assert "xz-compressed, but not a core dump" in one_line_error(f)


def test_pages_of_zeros_cost_no_memory(dead, tmp_path):
    x = dead[-1]
    f = compress(x.core, tmp_path / "core.zst", "zstd")
    data, segs = load_segments(x.core)
    zero = bytes(4096)
    held = sum(4096 for at in range(0, len(data), 4096) if data[at:at + 4096].ljust(4096, b"\0")
               != zero)
    with mounted(f) as mnt:
        before = daemon_memfd_bytes(mnt)
        assert len(before) == 1 and held <= before[0] < len(data)
        # Reading all of memory, zeros included, allocates nothing more.
        for vaddr, offset, filesz in segs:
            if filesz and vaddr < 1 << 63:
                for at in range(0, filesz, 1 << 20):
                    n = min(1 << 20, filesz - at)
                    assert read_mem(mnt / "mem", vaddr + at, n) == \
                        data[offset + at:offset + at + n]
        assert daemon_memfd_bytes(mnt) == before


def test_revive_a_compressed_core(dead, tmp_path):
    x = dead[-1]
    f = compress(x.core, tmp_path / "core.rv_crash.zst", "zstd")
    addrs = sorted(recorded_addrs(x.dir))
    exe = x.dir / "rv_crash"
    core_view = gdb_view([str(exe), str(x.core)], addrs)
    with mounted(f) as mnt, revived(mnt) as ctl:
        pid = int(ctl["pid"][0])
        assert ctl["state"] == ["stopped"] and proc_state(pid) == "T"
        # Its memory is mapped from the decompressed core, a memfd.
        maps = pathlib.Path(f"/proc/{pid}/maps").read_text()
        assert f"/memfd:corefs:{f.name} (deleted)" in maps
        for a in addrs:
            want = core_bytes(x.core, a, 64)
            assert want is not None and read_mem(f"/proc/{pid}/mem", a, 64) == want, hex(a)
        live = gdb_view(["-p", str(pid)], addrs)
        assert_same_threads_and_registers(core_view, live, ctl, gcore=False)
        assert core_view.mem == live.mem and len(live.mem) == 2 * len(addrs)
