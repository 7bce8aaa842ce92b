"""Hostile inputs: what is not a usable core is refused with one line, and nothing is mounted.

Every input beyond the trivial ones is derived at test time from one real core: the program
tests/progs/badinput_base.c dies of SIGSEGV and the kernel's core is patched with struct (headers
cut short, note sizes and counts made absurd, segments pushed past the end of the file).  CASES
is the corpus, fuse-archive style: each hostile file with the outcome and the message it must
get.  Every run also checks that the input was not written and that no mount is left behind.

Outcomes:
  REFUSE  `corefs CORE MNT` and `corefs --cat core.json CORE` exit non-zero with exactly one
          line on stderr, "corefs: CORE: MESSAGE", and the mount point stays an empty directory.
  PROBLEM damage to one process-wide note that leaves the rest of the core usable (core.h:
          "where the core is truncated or lacks something, the model says so in `problems`
          instead of failing"): it opens, with MESSAGE among core.json's problems, and mounts and
          unmounts cleanly.  Never silently accepted, never refused wholesale.
"""
import collections
import hashlib
import json
import os
import pathlib
import re
import stat
import struct
import subprocess

import pytest

from conftest import COREFS, build_prog, crash, mounted, one_line_error, read_mem

REFUSE, PROBLEM = "refuse", "problem"

PT_LOAD, PT_NOTE = 1, 4
NT_PRSTATUS, NT_AUXV, NT_FILE = 1, 6, 0x46494C45
PN_XNUM = 0xFFFF
EHDR64 = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR64 = struct.Struct("<IIQQQQQQ")
SHDR64 = struct.Struct("<IIQQQQIIQQ")
NHDR = struct.Struct("<III")


# --- reading and patching a 64-bit little-endian core --------------------------------------------

Phdr = collections.namedtuple("Phdr", "index at type flags offset vaddr paddr filesz memsz align")
Note = collections.namedtuple("Note", "at namesz descsz type name desc_at desc")


def align4(n):
    return (n + 3) & ~3


class Core:
    """The parts of an ELF64 LSB core that the cases patch, with their file offsets."""

    def __init__(self, data):
        self.data = bytes(data)
        (ident, self.e_type, _, _, _, self.e_phoff, self.e_shoff, _, _, self.e_phentsize,
         self.e_phnum, _, self.e_shnum, _) = EHDR64.unpack_from(self.data, 0)
        assert ident[:4] == b"\x7fELF" and ident[4] == 2 and ident[5] == 1, \
            "the base core is not ELF64 little-endian"
        self.phdrs = [Phdr(i, at, *PHDR64.unpack_from(self.data, at))
                      for i in range(self.e_phnum)
                      for at in [self.e_phoff + i * self.e_phentsize]]
        self.loads = [p for p in self.phdrs if p.type == PT_LOAD]
        self.note_seg = next(p for p in self.phdrs if p.type == PT_NOTE)
        self.notes = []
        off, end = self.note_seg.offset, self.note_seg.offset + self.note_seg.filesz
        while off < end:
            namesz, descsz, ntype = NHDR.unpack_from(self.data, off)
            desc_at = off + NHDR.size + align4(namesz)
            self.notes.append(Note(off, namesz, descsz, ntype,
                                   self.data[off + NHDR.size:off + NHDR.size + namesz],
                                   desc_at, self.data[desc_at:desc_at + descsz]))
            off = desc_at + align4(descsz)

    def note(self, ntype):
        return next(n for n in self.notes if n.name == b"CORE\0" and n.type == ntype)

    def patched(self, *edits):
        """A copy with (fmt, offset, value) edits applied."""
        b = bytearray(self.data)
        for fmt, off, value in edits:
            struct.pack_into(fmt, b, off, value)
        return bytes(b)

    def with_notes(self, transform):
        """A copy whose note segment is transform([(name, type, desc), ...]), written anew at
        the end of the file (the old one stays, unreferenced), so sizes may change freely."""
        notes = transform([(n.name, n.type, n.desc) for n in self.notes])
        seg = b"".join(NHDR.pack(len(name), len(desc), ntype)
                       + name + bytes(align4(len(name)) - len(name))
                       + desc + bytes(align4(len(desc)) - len(desc))
                       for name, ntype, desc in notes)
        b = bytearray(self.data)
        b += bytes(align4(len(b)) - len(b))
        at = len(b)
        b += seg
        struct.pack_into("<Q", b, self.note_seg.at + 8, at)  # p_offset
        struct.pack_into("<Q", b, self.note_seg.at + 32, len(seg))  # p_filesz
        return bytes(b)


# --- the base core and the non-core ELF files -----------------------------------------------------

class Base:
    """The real core and the facts the messages are built from."""

    def __init__(self, path, exe):
        self.path = path
        self.exe = exe
        self.core = Core(path.read_bytes())
        self.snapshot = snapshot(path)
        c = self.core
        self.facts = {
            "phnum": c.e_phnum,
            "phoff": hex(c.e_phoff),
            "size": len(c.data),
            "noteseg": hex(c.note_seg.offset),
            "note0": hex(c.notes[0].at),
            "note_last": hex(c.notes[-1].at),
            "nt_file_at": hex(c.note(NT_FILE).at),
            "nt_file_size": c.note(NT_FILE).descsz,
            "odd_auxv_size": c.note(NT_AUXV).descsz + 1,
        }


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("badinput")
    exe = build_prog("badinput_base", d)
    core, _ = crash(exe, d, expect_signal=11)
    return Base(core, exe)


@pytest.fixture(scope="module")
def elf_builds(tmp_path_factory):
    """badinput_base.c built as an executable (ET_EXEC), a shared object and a .o."""
    out = {}
    for kind, flags in (("exec", ("-no-pie",)), ("shared", ("-shared", "-fPIC")), ("object", ("-c",))):
        out[kind] = build_prog("badinput_base", tmp_path_factory.mktemp(kind), *flags)
    return out


# --- the cases ------------------------------------------------------------------------------------

def write(tmp, name, data):
    p = tmp / name
    p.write_bytes(data)
    return p


def cut_inside_notes(c):
    """Cut inside NT_FILE's descriptor: the PT_NOTE's p_filesz now runs past the end."""
    nt_file = c.note(NT_FILE)
    return c.data[:nt_file.desc_at + nt_file.descsz // 2]


def pn_xnum(c, count):
    """e_phnum = PN_XNUM with the real count in section header 0's sh_info (appended)."""
    shoff = len(c.data)
    b = bytearray(c.patched(("<Q", 0x28, shoff), ("<H", 0x38, PN_XNUM), ("<H", 0x3A, SHDR64.size),
                            ("<H", 0x3C, 1), ("<H", 0x3E, 0)))
    b += SHDR64.pack(0, 0, 0, 0, 0, 0, 0, count, 0, 0)
    return bytes(b)


def odd_auxv(notes):
    return [(n, t, d + b"\x07" if t == NT_AUXV else d) for n, t, d in notes]


# (case, how to make the file from (tmp dir, base, elf builds), outcome, message regex).
# {name} in a regex is a fact of the base core (Base.facts), inserted literally.
CASES = [
    ("empty_file", lambda t, b, e: write(t, "empty", b""),
     REFUSE, r"empty file, not a core"),
    ("text_file", lambda t, b, e: write(t, "text", b"This is not a core dump.\n" * 20),
     REFUSE, r"not a core dump \(no ELF magic\)"),
    ("bin_true", lambda t, b, e: pathlib.Path("/bin/true"),
     REFUSE, r"ELF file is not a core \(e_type ET_DYN, a shared object or PIE\)"),
    ("executable", lambda t, b, e: e["exec"],
     REFUSE, r"ELF file is not a core \(e_type ET_EXEC, an executable\)"),
    ("shared_object", lambda t, b, e: e["shared"],
     REFUSE, r"ELF file is not a core \(e_type ET_DYN, a shared object or PIE\)"),
    ("relocatable", lambda t, b, e: e["object"],
     REFUSE, r"ELF file is not a core \(e_type ET_REL, an object file\)"),
    # (A directory is not bad input: it mounts as a /proc of the cores in it, test_procdir.py.)
    ("missing_file", lambda t, b, e: t / "no-such-core",
     REFUSE, r"No such file or directory"),
    ("cut_inside_e_ident", lambda t, b, e: write(t, "core", b.core.data[:10]),
     REFUSE, r"truncated ELF header \(10 bytes\)"),
    ("cut_inside_elf_header", lambda t, b, e: write(t, "core", b.core.data[:40]),
     REFUSE, r"truncated ELF header \(40 bytes\)"),
    ("cut_inside_program_headers",
     lambda t, b, e: write(t, "core", b.core.data[:b.core.e_phoff + 3 * b.core.e_phentsize + 20]),
     REFUSE, r"truncated: {phnum} program headers at {phoff} run past the end of the file "
             r"\(252 bytes\)"),
    ("first_note_namesz_huge",
     lambda t, b, e: write(t, "core", b.core.patched(("<I", b.core.notes[0].at, 0xFFFFFFF0))),
     REFUSE, r"note at offset {note0} runs past the end of its segment"),
    ("first_note_descsz_huge",
     lambda t, b, e: write(t, "core", b.core.patched(("<I", b.core.notes[0].at + 4, 0xFFFFFFF0))),
     REFUSE, r"note at offset {note0} runs past the end of its segment"),
    ("last_note_namesz_runs_past",
     lambda t, b, e: write(t, "core", b.core.patched(("<I", b.core.notes[-1].at, 0x100))),
     REFUSE, r"note at offset {note_last} runs past the end of its segment"),
    ("cut_inside_notes", lambda t, b, e: write(t, "core", cut_inside_notes(b.core)),
     REFUSE, r"note at offset {nt_file_at} runs past the end of the file"),
    ("note_segment_filesz_huge",
     lambda t, b, e: write(t, "core", b.core.patched(("<Q", b.core.note_seg.at + 32, 0xFFFFFFFF0000))),
     REFUSE, r"truncated: note segment at {noteseg} needs 0xffffffff0000 bytes, the file holds "
             r"0x[0-9a-f]+"),
    ("e_phnum_huge", lambda t, b, e: write(t, "core", b.core.patched(("<H", 0x38, 0xFFFE))),
     REFUSE, r"truncated: 65534 program headers at {phoff} run past the end of the file "
             r"\({size} bytes\)"),
    ("pn_xnum_sh_info_huge", lambda t, b, e: write(t, "core", pn_xnum(b.core, 0xFFFFFFFF)),
     REFUSE, r"truncated: 4294967295 program headers at {phoff} run past the end of the file "
             r"\([0-9]+ bytes\)"),
    ("nt_file_count_huge",
     lambda t, b, e: write(t, "core", b.core.patched(("<Q", b.core.note(NT_FILE).desc_at,
                                                      0xFFFFFFFFFFFFFFFF))),
     PROBLEM, r"NT_FILE of {nt_file_size} bytes is malformed: mapped file names unknown"),
    ("nt_auxv_odd_size", lambda t, b, e: write(t, "core", b.core.with_notes(odd_auxv)),
     PROBLEM, r"NT_AUXV of {odd_auxv_size} bytes is not a whole number of 16-byte entries: "
             r"its last 1 bytes? ignored"),
    ("zero_threads",
     lambda t, b, e: write(t, "core", b.core.with_notes(
         lambda ns: [(n, ty, d) for n, ty, d in ns if ty != NT_PRSTATUS])),
     PROBLEM, r"missing: no NT_PRSTATUS note \(no threads\)"),
]


# --- checks ---------------------------------------------------------------------------------------

def snapshot(path):
    """What must not change: the bytes and mtime of a file, the mtime of a directory."""
    if not path.exists():
        return None
    st = path.stat()
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, digest)


def mounts():
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f]


def assert_nothing_mounted(mnt):
    assert str(mnt) not in mounts(), f"{mnt} is in /proc/mounts"
    assert not os.path.ismount(mnt)
    st = os.lstat(mnt)
    assert stat.S_ISDIR(st.st_mode), f"{mnt} is no longer a plain directory"
    assert os.listdir(mnt) == [], f"{mnt} is not empty"


def run_mount(core, mnt, timeout=30):
    """`corefs CORE MNT` as a user runs it; should it mount after all, unmount and say so."""
    p = subprocess.run([str(COREFS), str(core), str(mnt)], capture_output=True, timeout=timeout)
    if os.path.ismount(mnt):
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        pytest.fail(f"corefs mounted {core} (exit {p.returncode}): {p.stderr.decode()}")
    return p




def expected(base, regex):
    return re.sub(r"\{(\w+)\}", lambda m: re.escape(str(base.facts[m.group(1)])), regex)


def assert_refused(core, mnt, message_re):
    cat = subprocess.run([str(COREFS), "--cat", "core.json", str(core)], capture_output=True,
                         timeout=30)
    assert cat.stdout == b"", "--cat wrote output for a refused core"
    line = one_line_error(cat, core, message_re)
    p = run_mount(core, mnt)
    assert one_line_error(p, core, message_re) == line, "mounting and --cat disagree"
    assert_nothing_mounted(mnt)


@pytest.mark.parametrize("case,make,outcome,message", CASES, ids=[c[0] for c in CASES])
def test_hostile_input(case, make, outcome, message, base, elf_builds, tmp_path):
    core = make(tmp_path, base, elf_builds)
    message_re = expected(base, message)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    before = snapshot(core)

    if outcome == REFUSE:
        assert_refused(core, mnt, message_re)
    else:
        cat = subprocess.run([str(COREFS), "--cat", "core.json", str(core)], capture_output=True,
                             timeout=30)
        assert cat.returncode == 0 and cat.stderr == b"", cat.stderr.decode()
        problems = json.loads(cat.stdout)["problems"]
        assert any(re.fullmatch(message_re, s) for s in problems), \
            f"no problem matches {message_re!r}: {problems}"
        with mounted(core) as m:
            json.loads((m / "core.json").read_bytes())
            (m / "maps").read_bytes()
        assert_nothing_mounted(mnt)
    assert snapshot(core) == before, f"{core} was modified"
    assert snapshot(base.path) == base.snapshot, "the base core was modified"


# --- one-off cases --------------------------------------------------------------------------------

def test_base_core_is_sound(base):
    """The cases mean something only if the unpatched core opens without problems."""
    p = subprocess.run([str(COREFS), "--cat", "core.json", str(base.path)], capture_output=True)
    assert p.returncode == 0, p.stderr.decode()
    j = json.loads(p.stdout)
    assert j["problems"] == []
    assert len(j["threads"]) == 1 and j["signal"]["name"] == "SIGSEGV"


def test_pn_xnum_with_true_count_opens(base, tmp_path):
    """The counter-case of pn_xnum_sh_info_huge: extended numbering with the real count works."""
    core = write(tmp_path, "core", pn_xnum(base.core, base.core.e_phnum))
    p = subprocess.run([str(COREFS), "--cat", "maps", str(core)], capture_output=True)
    assert p.returncode == 0, p.stderr.decode()
    assert len(p.stdout.splitlines()) == len(base.core.loads)


def test_malformed_nt_file_is_not_called_missing(base, tmp_path):
    """An NT_FILE that is present but malformed is one problem, not also 'missing'."""
    core = write(tmp_path, "core", base.core.patched(("<Q", base.core.note(NT_FILE).desc_at,
                                                      0xFFFFFFFFFFFFFFFF)))
    p = subprocess.run([str(COREFS), "--cat", "core.json", str(core)], capture_output=True)
    if p.returncode != 0:
        pytest.skip("malformed NT_FILE is refused")
    problems = json.loads(p.stdout)["problems"]
    assert not any(s.startswith("missing: no NT_FILE") for s in problems), problems


def marker_address(c):
    """Where badinput_base's static marker lives, and the PT_LOAD that holds it."""
    at = c.data.find(b"corefs badinput marker")
    seg = next(s for s in c.loads if s.offset <= at < s.offset + s.filesz)
    return seg.vaddr + at - seg.offset, seg




def test_load_segments_past_eof_mount(base, tmp_path):
    """A PT_LOAD wholly past the end and one cut short: the core mounts, reads of the missing
    bytes fail with EIO (first byte missing) or come back short, and core.json says so."""
    c = base.core
    addr, whole = marker_address(c)
    part = max((s for s in c.loads if s is not whole and s.filesz >= 0x2000 and s.vaddr < 1 << 62),
               key=lambda s: s.offset)
    held = 0x1000
    core = write(tmp_path, "core", c.patched(("<Q", whole.at + 8, 0x7F0000000000),
                                             ("<Q", part.at + 8, len(c.data) - held)))
    before = snapshot(core)
    missing = whole.filesz + part.filesz - held

    with mounted(base.path) as m:
        assert read_mem(m, addr, 22) == b"corefs badinput marker"
    with mounted(core) as m:
        with pytest.raises(OSError) as e:
            read_mem(m, addr, 22)
        assert e.value.errno == 5, e.value  # EIO
        with pytest.raises(OSError) as e:
            read_mem(m, whole.vaddr, 1)
        assert e.value.errno == 5, e.value
        assert len(read_mem(m, part.vaddr, 16)) == 16
        assert len(read_mem(m, part.vaddr + held - 16, 64)) == 16
        with pytest.raises(OSError) as e:
            read_mem(m, part.vaddr + held, 1)
        assert e.value.errno == 5, e.value
        j = json.loads((m / "core.json").read_bytes())
        maps = (m / "maps").read_text()
    assert (f"truncated: 2 of {len(c.loads)} segments lie past the end of the file (1 wholly), "
            f"{missing:#x} bytes missing") in j["problems"], j["problems"]
    by_start = {int(x["start"], 16): x for x in j["mappings"]}
    assert by_start[whole.vaddr]["in_core_bytes"] == 0
    assert by_start[whole.vaddr]["truncated_bytes"] == whole.filesz
    assert by_start[part.vaddr]["in_core_bytes"] == held
    assert by_start[part.vaddr]["truncated_bytes"] == part.filesz - held
    assert len(maps.splitlines()) == len(c.loads)
    assert snapshot(core) == before


@pytest.mark.parametrize("kind", ["missing", "regular_file"])
def test_mount_point_errors_leave_nothing_mounted(kind, base, tmp_path):
    """A good core on a bad mount point: non-zero exit, one line naming the mount point, no
    mount (a regular file as mount point must not end as a mount that answers EIO)."""
    mnt = tmp_path / "mnt"
    if kind == "regular_file":
        mnt.write_bytes(b"")
    p = subprocess.run([str(COREFS), str(base.path), str(mnt)], capture_output=True, timeout=30)
    left = str(mnt) in mounts()
    if left:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
    err = p.stderr.decode(errors="replace")
    assert not left, f"corefs left {mnt} mounted (exit {p.returncode}, stderr {err!r})"
    assert p.returncode > 0, err
    assert len(err.splitlines()) == 1 and str(mnt) in err, err
    assert snapshot(base.path) == base.snapshot


def test_help_lists_every_option():
    """`corefs --help` names every option corefs takes (fs/main.c's corefs_opts)."""
    p = subprocess.run([str(COREFS), "--help"], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    usage = p.stdout.decode().split("\nFUSE options:")[0]
    for opt in ("--sysroot", "--no-fill", "--proc", "--cat", "-f", "-d", "-s", "-o", "--help",
                "--version"):
        assert re.search(rf"^    (-\w, )?{opt}\b", usage, re.M), f"--help leaves out {opt}"


def test_mount_on_a_corefs_mount_is_refused(base, tmp_path):
    """A second `corefs CORE MNT` on a corefs mount does not stack a second mount over it: one
    line naming the mount point, non-zero exit, and the first mount stays as it was."""
    def at(mnt):
        with open("/proc/self/mountinfo") as f:
            return [line for line in f if line.split()[4] == str(mnt)]

    with mounted(base.path) as m:
        assert len(at(m)) == 1
        p = subprocess.run([str(COREFS), str(base.path), str(m)], capture_output=True,
                           timeout=30)
        stacked = at(m)
        for _ in stacked[1:]:
            subprocess.run(["fusermount3", "-u", str(m)], check=True)
        assert len(stacked) == 1, f"a second mount stacked on {m}: {stacked}"
        one_line_error(p, m, re.escape(f"already a corefs mount (of {base.path}): unmount it "
                                       f"first (fusermount3 -u {m})"))
        assert (m / "maps").read_bytes(), "the first mount no longer answers"


def test_swapped_arguments_name_the_core(base, tmp_path):
    """`corefs MOUNTPOINT CORE`: the message names the argument that is a core, not only 'not
    a directory'; a plain file in the mount point's place still gets 'not a directory'."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    p = subprocess.run([str(COREFS), str(mnt), str(base.path)], capture_output=True, timeout=30)
    one_line_error(p, base.path, re.escape("a core dump, not a mount point: the core comes first "
                                           "(corefs CORE MOUNTPOINT)"))
    assert_nothing_mounted(mnt)
    text = write(tmp_path, "text", b"not a core\n")
    p = subprocess.run([str(COREFS), str(mnt), str(text)], capture_output=True, timeout=30)
    one_line_error(p, text, "not a directory")
    assert_nothing_mounted(mnt)
    assert snapshot(base.path) == base.snapshot
