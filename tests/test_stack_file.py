"""The top-level `stack` file: every thread's backtrace, each under a `TID N (comm)` line, the
thread the signal struck first.

Its frames are checked against task/<tid>/stack (the same lines, concatenated), its names against
task/<tid>/comm, and its thread order against oracles that do not use corefs: for a kernel core,
the thread the program itself says faulted (bt_threads's bt-expect.txt: the thread in
bt_lib_fault; worker_crash below: the tid the worker printed before it faulted) comes first, then
the others in eu-stack's order (the notes' order); for a gcore core, eu-stack's order throughout.
worker_crash makes a core whose faulting thread is not the main thread, so "first" cannot be
confused with "the leader" or "the lowest tid".
"""
import json
import re
import signal
import subprocess

import pytest

from conftest import corefs_cat, crash, mounted
from test_stack import build_threads, eu_stack, gcore, parse_stack, run

WORKER_CRASH = r'''
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *idle(void *arg) { (void)arg; for (;;) pause(); return NULL; }

__attribute__((noipa)) static void fault(void) { *(volatile int *)0 = 1; }

static void *crasher(void *arg)
{
	(void)arg;
	sleep(1);	/* the other threads are parked by now */
	printf("%ld\n", (long)syscall(SYS_gettid));
	fflush(stdout);
	fault();
	return NULL;
}

int main(void)
{
	pthread_t t[3];

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, idle, NULL);
	pthread_create(&t[2], NULL, crasher, NULL);
	pthread_join(t[2], NULL);
	return 0;
}
'''

HEADER = re.compile(r"^TID (\d+) \((.*)\)$")


def parse_stack_file(text):
    """[(tid, comm, frame text)] in file order; threads are separated by one blank line."""
    assert text.endswith("\n"), repr(text[-80:])
    out = []
    for i, block in enumerate(text[:-1].split("\n\n")):
        header, _, frames = block.partition("\n")
        m = HEADER.match(header)
        assert m, f"thread {i}: not a header: {header!r}"
        out.append((int(m[1]), m[2], frames + "\n" if frames else ""))
    return out


def check_against_tasks(mnt):
    """The stack file is task/*/stack under task/*/comm headers; returns its threads' tids."""
    text = (mnt / "stack").read_text()
    assert (mnt / "stack").stat().st_size == len(text.encode())
    threads = parse_stack_file(text)
    tids = [t for t, _, _ in threads]
    assert sorted(tids) == sorted(int(t) for t in (mnt / "task").iterdir() for t in [t.name])
    for tid, comm, frames in threads:
        task = mnt / "task" / str(tid)
        assert frames == (task / "stack").read_text(), tid
        assert comm + "\n" == (task / "comm").read_text(), tid
        assert parse_stack(frames), f"thread {tid} has no frames"
    return tids, text


@pytest.mark.parametrize("producer", ["kernel", "gcore"])
def test_bt_threads(producer, tmp_path):
    exe, _ = build_threads(tmp_path, "cfi-fp")
    if producer == "kernel":
        core, _ = crash(exe, tmp_path, "crash", expect_signal=signal.SIGSEGV)
    else:
        core = gcore(exe, tmp_path, "gcore")
    expect = {}
    for line in (tmp_path / "bt-expect.txt").read_text().splitlines():
        tid, *names = line.split()
        expect[int(tid)] = names
    notes_order = list(eu_stack(core, exe))
    with mounted(core) as mnt:
        tids, text = check_against_tasks(mnt)
        cj = json.loads((mnt / "core.json").read_text())
    assert len(tids) == len(expect) > 2
    if producer == "kernel":
        faulted = [t for t, names in expect.items() if "bt_lib_fault" in names]
        assert tids[0] == faulted[0], tids
        assert cj["signal"]["tid"] == faulted[0], cj["signal"]
        assert tids == faulted + [t for t in notes_order if t != faulted[0]]
    else:
        assert tids == notes_order
    assert corefs_cat(core, "stack").stdout.decode() == text


def test_worker_crash_comes_first(tmp_path):
    src = tmp_path / "worker_crash.c"
    src.write_text(WORKER_CRASH)
    exe = tmp_path / "worker_crash"
    run("gcc", "-O2", "-g", "-pthread", "-o", exe, src)
    core, p = crash(exe, tmp_path, expect_signal=signal.SIGSEGV)
    faulted = int(p.stdout.split()[0])
    notes_order = list(eu_stack(core, exe))
    with mounted(core) as mnt:
        tids, text = check_against_tasks(mnt)
        pid = int((mnt / "stat").read_text().split()[0])
        cj = json.loads((mnt / "core.json").read_text())
    assert faulted != pid
    assert len(tids) == 4
    assert tids[0] == faulted == cj["signal"]["tid"], (tids, faulted, cj["signal"])
    assert tids == [faulted] + [t for t in notes_order if t != faulted]
    first = parse_stack_file(text)[0][2]
    assert any(f.name == "fault" for f in parse_stack(first)), first
    assert set(tids) == set(notes_order)
