# corefs — mount a core dump as a /proc/<pid>-like tree.
#
#   make           build ./corefs
#   make demo      crash a bundled program into a core, mount it, show what corefs sees
#   make check     unit tests (also under ASan+UBSan) and integration tests on real cores, some
#                  of them against build/asan/corefs (ASan+UBSan) and build/tsan/corefs (TSan)
#   make install   PREFIX=/usr/local DESTDIR=
#
# `demo` and `check` first install the Debian packages they need when run as root (see `deps`).

VERSION   := 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
DESTDIR   ?=
CC        ?= cc
PKG_CONFIG ?= pkg-config
PYTHON    ?= /usr/bin/python3

PKGS      := fuse3 libelf libunwind-coredump libcjson libzstd liblzma liblz4 libdebuginfod libdw \
             libcurl
# Debian packages: to build, to test, to run the demo.
DEB_BUILD := build-essential pkg-config libfuse3-dev libelf-dev libunwind-dev libcjson-dev \
             libzstd-dev liblzma-dev liblz4-dev libiberty-dev libdebuginfod-dev libdw-dev \
             libcurl4-openssl-dev
DEB_RUN   := fuse3 xz-utils
DEB_TEST  := gdb gdb-multiarch python3 python3-pytest elfutils clang python3-psutil \
             prometheus-process-exporter procps zstd xz-utils lz4 rustc \
             htop lsof tmux golang-go debuginfod nginx nodejs gcc-multilib

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

CFLAGS    ?= -O2 -g
WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-sign-compare
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE -DCOREFS_VERSION='"$(VERSION)"' $(WARN) $(PKG_CFLAGS) $(CFLAGS)
# -liberty: libiberty's demangler (static, no pkg-config), for C++, Rust and D names in
# backtraces, as gdb and binutils demangle them.
LDLIBS    += $(PKG_LIBS) -liberty -lpthread

FORMATS_SRC := formats/error.c formats/arch.c formats/core.c formats/elfcore.c formats/process.c \
               formats/layout.c \
               formats/files.c formats/fetch.c formats/remote.c formats/vma.c formats/macho.c \
               formats/memory.c formats/procargs.c \
               formats/modules.c formats/symbols.c formats/unwind.c formats/ehframe.c \
               formats/resident.c \
               formats/compressed.c formats/internal.c formats/util.c formats/dump.c \
               formats/elfnote.c formats/macho_tables.c
FS_LIB_SRC  := fs/buf.c fs/render.c fs/render_stack.c fs/render_proc.c fs/render_mm.c \
               fs/render_root.c fs/nodes.c fs/procroot.c
FS_SRC      := fs/ops.c fs/tree.c fs/mounted.c fs/watch.c fs/cores.c fs/control.c fs/main.c
REVIVE_SRC  := revive/linux.c revive/build.c revive/vessel.c revive/remote.c revive/memory.c \
               revive/threads.c revive/revived.c revive/plan.c revive/glibc.c revive/xstate.c \
               revive/util.c
LIB_SRC     := $(FORMATS_SRC) $(FS_LIB_SRC)

BUILD     := build
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
FS_OBJ    := $(FS_SRC:%.c=$(BUILD)/%.o) $(REVIVE_SRC:%.c=$(BUILD)/%.o)

.PHONY: all clean install deps check unit integration demo bench fuzz
all: corefs

corefs: $(LIB_OBJ) $(FS_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c $(wildcard formats/*.h fs/*.h revive/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The daemon itself under sanitizers, for the integration tests that drive it from many threads
# (tests/test_concurrency.py): ASan+UBSan, and ThreadSanitizer.  Each has its own objects under
# build/asan or build/tsan, so they never mix with the plain build's.
ASAN_DAEMON_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                     -fno-sanitize-recover=all
TSAN_DAEMON_FLAGS := -O1 -g -fsanitize=thread
DAEMON_SRC := $(LIB_SRC) $(FS_SRC) $(REVIVE_SRC)

$(BUILD)/asan/corefs: $(DAEMON_SRC:%.c=$(BUILD)/asan/%.o)
	$(CC) $(LDFLAGS) $(ASAN_DAEMON_FLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/asan/%.o: %.c $(wildcard formats/*.h fs/*.h revive/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ASAN_DAEMON_FLAGS) -c -o $@ $<

$(BUILD)/tsan/corefs: $(DAEMON_SRC:%.c=$(BUILD)/tsan/%.o)
	$(CC) $(LDFLAGS) $(TSAN_DAEMON_FLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tsan/%.o: %.c $(wildcard formats/*.h fs/*.h revive/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TSAN_DAEMON_FLAGS) -c -o $@ $<

SAN_DAEMONS := $(BUILD)/asan/corefs $(BUILD)/tsan/corefs

# Unit tests: the format reader and the renderers, without FUSE, plain and under sanitizers.
UNIT_SRC  := $(wildcard tests/unit/*.c)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

$(BUILD)/unit/%: tests/unit/%.c $(LIB_SRC) $(wildcard formats/*.h fs/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_SRC) $(LDLIBS)

$(BUILD)/unit-asan/%: tests/unit/%.c $(LIB_SRC) $(wildcard formats/*.h fs/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O1 $(SAN_FLAGS) -o $@ $< $(LIB_SRC) $(LDLIBS)

UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%) $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit-asan/%)
unit: $(UNIT_BIN)

install: corefs
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 corefs $(DESTDIR)$(BINDIR)/corefs

# Install the Debian packages the build, the tests and the demo need, when some are missing.
deps:
	@missing=$$(for p in $(DEB_BUILD) $(DEB_RUN) $(DEB_TEST); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:" $$missing; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null || \
			{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; } || exit 1; \
		else \
			echo "missing Debian packages; as root run:"; \
			echo "  apt-get install -y" $$missing; \
			exit 1; \
		fi; \
	fi

check: deps
	@$(MAKE) --no-print-directory corefs unit $(SAN_DAEMONS)
	$(PYTHON) tests/run.py

demo: deps
	@$(MAKE) --no-print-directory corefs
	@sh contrib/demo.sh

# Speed, measured side by side with the raw core file and with eu-stack in one run (not a test).
bench: deps
	@$(MAKE) --no-print-directory corefs
	$(PYTHON) tests/bench/bench.py
	$(PYTHON) tests/bench/bench_stack.py
	$(PYTHON) tests/bench/bench_revive.py
	$(PYTHON) tests/bench/bench_debuginfod.py
	$(PYTHON) tests/bench/bench_remote.py

# libFuzzer on the core reader and the renderers, with ASan+UBSan; FUZZ_SECONDS=600 by default.
# Seeds: cores made by tests/progs programs and, where present, ../shared/corpus.  Crashes are
# written to build/fuzz/crash-*; copy them to tests/fuzz/regressions/ once fixed.
FUZZ_SECONDS ?= 600
$(BUILD)/fuzz/fuzz_core: tests/fuzz/fuzz_core.c $(LIB_SRC) $(wildcard formats/*.h fs/*.h)
	@mkdir -p $(dir $@)
	clang $(filter-out -Wstrict-prototypes,$(ALL_CFLAGS)) -O1 -g -fsanitize=fuzzer,address,undefined \
		-o $@ tests/fuzz/fuzz_core.c $(LIB_SRC) $(LDLIBS)

fuzz: deps $(BUILD)/fuzz/fuzz_core
	@sh tests/fuzz/seeds.sh $(BUILD)/fuzz/seeds
	@mkdir -p $(BUILD)/fuzz/corpus
	cd $(BUILD)/fuzz && ./fuzz_core -max_total_time=$(FUZZ_SECONDS) -max_len=1048576 \
		-rss_limit_mb=4096 -timeout=10 -print_final_stats=1 -artifact_prefix=./ \
		corpus seeds $(CURDIR)/tests/fuzz/regressions

clean:
	rm -rf $(BUILD) corefs
