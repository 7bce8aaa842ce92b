/* tests/fuzz/fuzz_core.c — libFuzzer target: the core reader and every renderer.
 *
 * Each input is written to a memfd and opened as a core; if it parses, every file of the tree
 * is rendered (process files, the per-thread files of the first threads, and the /proc root's
 * files over this one core) and memory is
 * read around every segment and mapping, through the same code the mount uses.  Mapped files
 * are looked up on this machine (stat only, never opening anything but regular files) but not
 * used to fill memory, so a run does not depend on what the machine holds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../formats/core.h"
#include "../../fs/nodes.h"
#include "../../fs/procroot.h"

#define MAX_THREADS 8

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A compressed input may claim gigabytes: cap decompression well below the fuzzer's rss limit. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("COREFS_MAX_DECOMPRESSED", "256M", 1);
	return 0;
}

static void render_tree(const struct process *v, struct fsref dir)
{
	char name[32];
	struct fsref child;

	for (size_t i = 0; node_child(v, dir, i, &child, name, sizeof(name)); i++) {
		struct buf b = { 0 };

		if (child.node == N_TID && child.thread >= MAX_THREADS)
			break;
		if (node_is_dir(child.node)) {
			render_tree(v, child);
			continue;
		}
		if (nodes[child.node].render)
			node_render(v, child, &b);
		buf_free(&b);
	}
}

static void read_memory(const struct process *v)
{
	char buf[256];
	uint64_t start, end;

	for (size_t i = 0; i < v->core->nsegs && i < 64; i++) {
		const struct core_segment *s = &v->core->segs[i];

		memory_read(v->mem, s->vaddr, buf, sizeof(buf));
		memory_read(v->mem, s->vaddr + s->memsz - 1, buf, sizeof(buf));
	}
	if (memory_next_data(v->mem, 0, &start, &end))
		memory_read(v->mem, start, buf, sizeof(buf));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct file_lookup nowhere = { .sysroot = "/nonexistent-sysroot",
						     .no_debuginfod = true };
	int fd = memfd_create("fuzz-core", MFD_CLOEXEC);
	char path[64];
	struct core *c = NULL;
	struct core_error err;
	struct process v;

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (core_open(path, &c, &err) == 0) {
		if (process_init(&v, c, &nowhere, false) == 0) {
			const struct process *one[1] = { &v };
			struct proc_view pv = { one, 1, { 0, 0 } };

			render_tree(&v, (struct fsref){ N_ROOT, -1 });
			/* The /proc root's files over this core. */
			for (int i = 0; i < PN_COUNT; i++) {
				struct buf b = { 0 };

				if (proc_nodes[i].render)
					proc_nodes[i].render(&pv, &b);
				buf_free(&b);
			}
			read_memory(&v);
			process_free(&v);
		}
		core_close(c);
	}
	close(fd);
	return 0;
}
