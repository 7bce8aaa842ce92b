"""Mach-O cores (formats/macho.c).

The corpus core lldb/mach-core/test.core (x86_64, 58 LC_SEGMENT_64, one LC_THREAD) is mounted
and checked against its section of the corpus's EXPECTED.md, whose ```json blocks give the
registers and the segments.  Hostile variants are that core with header bytes patched by struct:
each is refused by `--cat` and by a mount with one line naming the problem, and nothing is left
mounted.  A small arm64 core built here covers what the corpus core lacks: arm64 registers, the
unified thread state, LC_NOTEs lldb documents, and a segment cut by the end of the file.

The corpus tests skip when ../shared/corpus is absent; the synthetic ones always run.
"""
import errno
import json
import os
import re
import stat
import struct
import subprocess

import pytest

from conftest import COREFS, CORPUS, corefs_cat, corpus_files, mounted, one_line_error, read_mem

CORE_REL = "lldb/mach-core/test.core"

MH_MAGIC_64, MH_CORE = 0xFEEDFACF, 4
CPU_TYPE_X86_64, CPU_TYPE_ARM64 = 0x01000007, 0x0100000C
LC_THREAD, LC_SEGMENT_64, LC_UUID, LC_NOTE = 0x4, 0x19, 0x1B, 0x31
ARM_THREAD_STATE, ARM_THREAD_STATE64, ARM_EXCEPTION_STATE64 = 1, 6, 7
HEADER = struct.Struct("<IIIIIIII")	# magic cputype cpusubtype filetype ncmds sizeofcmds flags reserved
SEGMENT = struct.Struct("<II16sQQQQiiII")
NOTE = struct.Struct("<II16sQQ")
PAGE = 4096


# --- the corpus core and what EXPECTED.md says of it ---------------------------------------------

@pytest.fixture(scope="module")
def core(corpus_dir):
    return corpus_files(corpus_dir, CORE_REL)[0]


def expected_section():
    """The ```json blocks of EXPECTED.md's section on the core: (registers, segments)."""
    text = (CORPUS / "EXPECTED.md").read_text()
    start = text.index(f"### `{CORE_REL}`")
    end = text.find("\n### ", start + 1)
    section = text[start:end if end >= 0 else len(text)]
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", section, re.S)]
    regs = [b for b in blocks if isinstance(b, dict)]
    segs = [b for b in blocks if isinstance(b, list)]
    assert len(regs) == 1 and len(segs) == 1, "EXPECTED.md's section changed shape"
    return ({k: int(v, 16) for k, v in regs[0].items()},
            [{"start": int(s[0], 16), "end": int(s[0], 16) + int(s[1], 16), "fileoff": s[2],
              "filesize": s[3], "perms": s[4]} for s in segs[0]])


@pytest.fixture(scope="module")
def expected(core):
    return expected_section()


def parse_maps(text):
    out = []
    for line in text.splitlines():
        rng, perms = line.split()[:2]
        lo, hi = (int(x, 16) for x in rng.split("-"))
        out.append((lo, hi, perms))
    return out


def parse_regs(text):
    return {name: int(value, 16) for name, value in (l.split() for l in text.splitlines())}


def test_core_json(core, expected):
    regs, segs = expected
    j = json.loads(corefs_cat(core, "core.json").stdout)
    assert j["format"] == "mach-o-x86-64"
    assert j["arch"] == "x86_64" and j["os"] == "macos"
    assert j["pid"] == 0
    assert j["file_size"] == 1191243776

    assert len(j["threads"]) == 1
    t = j["threads"][0]
    assert t["tid"] == 1
    assert {k: int(v, 16) for k, v in t["regs"].items()} == regs
    assert list(t["regs"]) == list(regs), "registers not in lldb's order"
    assert int(t["pc"], 16) == regs["rip"] and int(t["sp"], 16) == regs["rsp"]
    assert [(r["note"], r["owner"], r["size"]) for r in t["regsets"]] == \
        [("x86_EXCEPTION_STATE64", "LC_THREAD", 16)]
    assert [(n["owner"], n["type"], n["size"]) for n in j["notes"]] == \
        [("LC_THREAD", "x86_THREAD_STATE64", 168), ("LC_THREAD", "x86_EXCEPTION_STATE64", 16)]
    assert any("no thread ids" in p for p in j["problems"]), j["problems"]

    maps = j["mappings"]
    assert len(maps) == 58
    want = sorted(segs, key=lambda s: s["start"])
    assert [(int(m["start"], 16), int(m["end"], 16), m["perms"]) for m in maps] == \
        [(s["start"], s["end"], s["perms"] + "p") for s in want]
    # Every segment is wholly in the file; the last one ends exactly at its end.
    assert [m["in_core_bytes"] for m in maps] == [s["filesize"] for s in want]
    assert not any("truncated_bytes" in m for m in maps)
    assert max(s["fileoff"] + s["filesize"] for s in segs) == j["file_size"]


def test_maps_and_regs(core, expected):
    regs, segs = expected
    maps = parse_maps(corefs_cat(core, "maps").stdout.decode())
    assert len(maps) == 58
    assert sorted((lo, hi, p) for lo, hi, p in maps) == maps, "maps not sorted by address"
    assert maps == sorted((s["start"], s["end"], s["perms"] + "p") for s in segs)
    counts = {p: sum(1 for m in maps if m[2] == p) for p in ("rw-p", "r--p", "r-xp")}
    assert counts == {"rw-p": 46, "r--p": 8, "r-xp": 4}
    assert parse_regs(corefs_cat(core, "task/1/regs").stdout.decode()) == regs




def test_mounted(core, expected):
    regs, segs = expected
    by_addr = sorted(segs, key=lambda s: s["start"])
    with mounted(core) as mnt:
        assert parse_maps((mnt / "maps").read_text()) == \
            [(s["start"], s["end"], s["perms"] + "p") for s in by_addr]
        assert os.listdir(mnt / "task") == ["1"]
        assert parse_regs((mnt / "task" / "1" / "regs").read_text()) == regs
        j = json.loads((mnt / "core.json").read_text())
        assert j["format"] == "mach-o-x86-64" and len(j["mappings"]) == 58

        # The segments' bytes are all zero (the YAML the core is made from has no contents).
        first, last = by_addr[0], by_addr[-1]
        assert read_mem(mnt, first["start"], PAGE) == bytes(PAGE)
        assert read_mem(mnt, last["end"] - 16, 16) == bytes(16)
        stack = next(s for s in segs if s["start"] <= regs["rsp"] < s["end"])
        assert read_mem(mnt, regs["rsp"], 64) == bytes(64)
        assert stack["perms"] == "rw-"
        # A read running into a hole stops at the hole.
        gap = next(a["end"] for a, b in zip(by_addr, by_addr[1:]) if a["end"] < b["start"])
        assert len(read_mem(mnt, gap - PAGE, 2 * PAGE)) == PAGE
        # Outside every segment: EIO.
        for addr in (first["start"] - PAGE, gap, last["end"], 0):
            with pytest.raises(OSError) as e:
                read_mem(mnt, addr, 16)
            assert e.value.errno == errno.EIO, hex(addr)


# --- hostile variants of the corpus core ---------------------------------------------------------

THREAD_AT = 32			# load command 0: LC_THREAD, cmdsize 208
EXC_FLAVOR_AT = 32 + 8 + 8 + 168	# its second flavor/count pair (x86_EXCEPTION_STATE64, 4)
LAST_SEGMENT_AT = 32 + 208 + 57 * 72	# load command 58, the last LC_SEGMENT_64


def put32(off, value, fmt="<I"):
    return lambda b: struct.pack_into(fmt, b, off, value)


# (id, patch of the first 8 KiB, message after "corefs: CORE: ", as a regular expression)
HOSTILE = [
    ("ncmds-huge", put32(16, 0xFFFFFFFF),
     r"ncmds 4294967295 cannot fit in sizeofcmds 4384 \(a load command takes at least 8 bytes\)"),
    ("ncmds-zero", put32(16, 0), r"Mach-O core has no load commands"),
    ("sizeofcmds-past-eof", put32(20, 0xFFFFFFF0),
     r"truncated: 4294967280 bytes of load commands \(sizeofcmds\) run past the end of the file "
     r"\(1191243776 bytes\)"),
    ("cmdsize-past-sizeofcmds", put32(THREAD_AT + 4, 0x10000),
     r"load command 0 \(LC_THREAD\) at 0x20: cmdsize 65536 runs past the end of the load "
     r"commands \(sizeofcmds 4384, 4384 bytes left\)"),
    ("last-cmdsize-past-sizeofcmds", put32(LAST_SEGMENT_AT + 4, 80),
     rf"load command 58 \(LC_SEGMENT_64\) at {LAST_SEGMENT_AT:#x}: cmdsize 80 runs past the end "
     r"of the load commands \(sizeofcmds 4384, 72 bytes left\)"),
    ("cmdsize-zero", put32(THREAD_AT + 4, 0),
     r"load command 0 \(LC_THREAD\) at 0x20 has cmdsize 0, less than its 8-byte header"),
    ("segment-cmdsize-short", put32(THREAD_AT + 208 + 4, 16),
     r"LC_SEGMENT_64 \(load command 1 at 0xf0\) has cmdsize 16, less than the 72 bytes of a "
     r"segment command"),
    ("thread-count-past-command", put32(THREAD_AT + 12, 0x1000),
     r"LC_THREAD \(load command 0 at 0x20\): x86_THREAD_STATE64 count 4096 \(16384 bytes\) runs "
     r"past the end of the command \(192 bytes left\)"),
    ("second-flavor-count-past-command", put32(EXC_FLAVOR_AT + 4, 5),
     r"LC_THREAD \(load command 0 at 0x20\): x86_EXCEPTION_STATE64 count 5 \(20 bytes\) runs "
     r"past the end of the command \(16 bytes left\)"),
    ("mach-o-32", put32(0, 0xFEEDFACE),
     r"a 32-bit Mach-O file: only 64-bit Mach-O cores are supported"),
    ("mach-o-32-big-endian", put32(0, 0xFEEDFACE, ">I"),
     r"a 32-bit Mach-O file: only 64-bit Mach-O cores are supported"),
    ("big-endian", put32(0, MH_MAGIC_64, ">I"),
     r"a big-endian 64-bit Mach-O file: only little-endian Mach-O cores are supported"),
    ("not-a-core", put32(12, 2), r"Mach-O file is not a core \(filetype MH_EXECUTE, an executable\)"),
    ("unknown-cpu", put32(4, 0x12),
     r"Mach-O core for CPU type 0x12: only x86_64 and arm64 cores are supported"),
]


@pytest.fixture(scope="module")
def core_head(core):
    with open(core, "rb") as f:
        return f.read(8192), os.path.getsize(core)


def rebuild(core_head, path, patch=None):
    """The core again, from its first 8 KiB (header and load commands) patched, and holes: the
    rest of the file is zero, so truncate() gives it back in full at no cost."""
    head, size = core_head
    b = bytearray(head)
    if patch:
        patch(b)
    with open(path, "wb") as f:
        f.write(b)
        f.truncate(size)
    return path




def assert_refused(core, mnt, message_re):
    cat = subprocess.run([str(COREFS), "--cat", "core.json", str(core)], capture_output=True,
                         timeout=30)
    assert cat.stdout == b""
    line = one_line_error(cat, core, message_re)
    p = subprocess.run([str(COREFS), str(core), str(mnt)], capture_output=True, timeout=30)
    if os.path.ismount(mnt):
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        pytest.fail(f"corefs mounted {core}")
    assert one_line_error(p, core, message_re) == line, "mounting and --cat disagree"
    assert not os.path.ismount(mnt)
    assert stat.S_ISDIR(os.lstat(mnt).st_mode) and os.listdir(mnt) == []


def test_rebuilt_core_opens(core_head, tmp_path):
    """The control for the variants below: unpatched, the rebuilt core reads as the original."""
    j = json.loads(corefs_cat(rebuild(core_head, tmp_path / "same.core"), "core.json").stdout)
    assert len(j["mappings"]) == 58 and len(j["threads"]) == 1


@pytest.mark.parametrize("patch,message", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile(patch, message, core_head, tmp_path):
    bad = rebuild(core_head, tmp_path / "bad.core", patch)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    assert_refused(bad, mnt, message)


def test_truncated_header(core_head, tmp_path):
    short = tmp_path / "short.core"
    short.write_bytes(core_head[0][:20])
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    assert_refused(short, mnt, r"truncated Mach-O header \(20 bytes, needs 32\)")


# --- a synthetic arm64 core ----------------------------------------------------------------------

def lc_note(owner, offset, size):
    return NOTE.pack(LC_NOTE, NOTE.size, owner.encode(), offset, size)


def arm64_state(seed):
    """ARM_THREAD_STATE64: x0-x28, fp, lr, sp, pc, cpsr, flags (68 words)."""
    x = [seed + i for i in range(29)]
    fp, lr, sp = 0x16F000100 + seed, 0x100003F00 + seed, 0x16F000000 + seed
    pc = 0x002D000100003F80 + seed	# pointer-authentication bits above bit 47
    return struct.pack("<29QQQQQII", *x, fp, lr, sp, pc, 0x60001000, 0), \
        dict({f"x{i}": v for i, v in enumerate(x)}, fp=fp, lr=lr, sp=sp, pc=pc, cpsr=0x60001000)


def build_arm64(path, extra_notes=(), with_metadata=True):
    """Two threads (the second in the unified ARM_THREAD_STATE), two segments (the second cut by
    the end of the file), LC_NOTEs "addrable bits" and "process metadata", and an LC_UUID."""
    s1, r1 = arm64_state(0x10)
    s2, r2 = arm64_state(0x20)
    thread1 = struct.pack("<IIII", LC_THREAD, 8 + 8 + len(s1) + 8 + 16, ARM_THREAD_STATE64,
                          len(s1) // 4) + s1 + \
        struct.pack("<IIQII", ARM_EXCEPTION_STATE64, 4, 0xDEAD0000, 0x92000046, 0)
    unified = struct.pack("<II", ARM_THREAD_STATE64, len(s2) // 4) + s2
    thread2 = struct.pack("<IIII", LC_THREAD, 16 + len(unified), ARM_THREAD_STATE,
                          len(unified) // 4) + unified
    metadata = json.dumps({"threads": [{"thread_id": 1001}, {"thread_id": 1002}]}).encode()
    addrable = struct.pack("<IIII", 4, 47, 47, 0)
    notes = [("addrable bits", addrable)] + ([("process metadata", metadata)]
                                             if with_metadata else []) + list(extra_notes)
    ncmds = 2 + 2 + len(notes) + 1
    sizeofcmds = len(thread1) + len(thread2) + 2 * SEGMENT.size + len(notes) * NOTE.size + 24
    data_at = (HEADER.size + sizeofcmds + PAGE - 1) // PAGE * PAGE
    payload_at = data_at + 2 * PAGE
    cmds = thread1 + thread2
    cmds += SEGMENT.pack(LC_SEGMENT_64, SEGMENT.size, b"", 0x100000000, PAGE, data_at, PAGE,
                         5, 5, 0, 0)
    # 3 pages of memory, 2 of them meant to be in the file, the second of which is cut off.
    cmds += SEGMENT.pack(LC_SEGMENT_64, SEGMENT.size, b"", 0x16F000000 - PAGE, 3 * PAGE,
                         data_at + PAGE, 2 * PAGE, 3, 3, 0, 0)
    off = payload_at
    for owner, payload in notes:
        cmds += lc_note(owner, off, len(payload))
        off += len(payload)
    cmds += struct.pack("<II16s", LC_UUID, 24, bytes(range(16)))
    assert len(cmds) == sizeofcmds
    body = HEADER.pack(MH_MAGIC_64, CPU_TYPE_ARM64, 0, MH_CORE, ncmds, sizeofcmds, 0, 0) + cmds
    body = body.ljust(data_at, b"\0") + b"hello, text".ljust(PAGE, b"\0") + \
        b"stack page".ljust(PAGE, b"\0")
    # The payloads overlay where the cut segment's second page would have been.
    body += b"".join(p for _, p in notes)
    path.write_bytes(body)
    return r1, r2, len(body) - (data_at + PAGE)


def test_arm64_synthetic(tmp_path):
    core = tmp_path / "arm64.core"
    r1, r2, cut_in_core = build_arm64(core)
    j = json.loads(corefs_cat(core, "core.json").stdout)
    assert j["format"] == "mach-o-arm64" and j["arch"] == "arm64" and j["os"] == "macos"
    assert [t["tid"] for t in j["threads"]] == [1001, 1002]
    for t, r in zip(j["threads"], (r1, r2)):
        assert {k: int(v, 16) for k, v in t["regs"].items()} == r
        assert list(t["regs"])[-5:] == ["fp", "lr", "sp", "pc", "cpsr"]
        assert int(t["pc"], 16) == r["pc"] & (2**47 - 1), "addrable bits not applied to the pc"
        assert int(t["sp"], 16) == r["sp"]
    assert [(r["note"], r["size"]) for r in j["threads"][0]["regsets"]] == \
        [("ARM_EXCEPTION_STATE64", 16)]
    assert j["threads"][1]["regsets"] == []
    assert [(n["owner"], n["type"]) for n in j["notes"]] == [
        ("LC_THREAD", "ARM_THREAD_STATE64"), ("LC_THREAD", "ARM_EXCEPTION_STATE64"),
        ("LC_THREAD", "ARM_THREAD_STATE"), ("addrable bits", "LC_NOTE"),
        ("process metadata", "LC_NOTE"), ("Mach-O", "LC_UUID")]
    assert [(m["start"], m["end"], m["perms"], m["in_core_bytes"]) for m in j["mappings"]] == [
        ("0x100000000", "0x100001000", "r-xp", PAGE),
        ("0x16efff000", "0x16f002000", "rw-p", cut_in_core)]
    assert j["mappings"][1]["truncated_bytes"] == 2 * PAGE - cut_in_core > 0
    assert any(p.startswith("truncated: 1 of 2 segments") for p in j["problems"]), j["problems"]
    assert not any("no thread ids" in p for p in j["problems"])
    regs = parse_regs(corefs_cat(core, "task/1002/regs").stdout.decode())
    assert regs == r2

    with mounted(core) as mnt:
        assert sorted(os.listdir(mnt / "task")) == ["1001", "1002"]
        assert read_mem(mnt, 0x100000000, 11) == b"hello, text"
        assert read_mem(mnt, 0x16F000000 - PAGE, 10) == b"stack page"
        with pytest.raises(OSError) as e:
            read_mem(mnt, 0x16F000000 + PAGE, 16)	# cut off by the end of the file
        assert e.value.errno == errno.EIO


def test_arm64_without_metadata_numbers_threads(tmp_path):
    core = tmp_path / "arm64.core"
    build_arm64(core, with_metadata=False)
    j = json.loads(corefs_cat(core, "core.json").stdout)
    assert [t["tid"] for t in j["threads"]] == [1, 2]
    assert "Mach-O cores carry no thread ids: threads are numbered 1..2 in LC_THREAD order" in \
        j["problems"]


def test_kernel_core_refused(tmp_path):
    core = tmp_path / "kernel.core"
    build_arm64(core, extra_notes=[("kern ver str", struct.pack("<I", 1) + b"Darwin Kernel\0")])
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    assert_refused(core, mnt, r'a kernel core \(LC_NOTE "kern ver str"\), not a process core')
