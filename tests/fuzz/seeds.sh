#!/bin/sh
# Seeds for make fuzz: small kernel cores of the test programs, and the shared corpus's cores
# under 1 MiB when ../shared/corpus is present.  Cached in the given directory.
set -eu
out=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
[ -e "$out/.done" ] && exit 0
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/tiny.c" <<'C'
#include <pthread.h>
#include <stdlib.h>
static void *t(void *a) { (void)a; abort(); return 0; }
int main(int argc, char **argv) { pthread_t p; if (argc > 1) { pthread_create(&p, 0, t, 0); pthread_join(p, 0); } abort(); }
C
for variant in "-static" "" "-m32"; do
	name=tiny$(echo "$variant" | tr -d ' -')
	cc $variant -O0 -pthread -o "$tmp/$name" "$tmp/tiny.c" 2>/dev/null || continue
	for args in "" "threads"; do
		(cd "$tmp" && ulimit -c unlimited && "./$name" $args) 2>/dev/null || true
		for core in "$tmp"/core*; do
			[ -e "$core" ] || continue
			[ "$(stat -c %s "$core")" -le 1048576 ] && mv "$core" "$out/$name-${args:-main}.core"
			rm -f "$core"
		done
	done
done
# The same cores compressed as systemd-coredump stores them, for formats/compressed.c.
for core in "$out"/tiny*-main.core; do
	[ -e "$core" ] || continue
	command -v zstd >/dev/null && zstd -q -c "$core" > "$core.zst"
	command -v xz >/dev/null && xz -c "$core" > "$core.xz"
	command -v lz4 >/dev/null && lz4 -q -c "$core" > "$core.lz4"
done
corpus="$top/../shared/corpus"
if [ -d "$corpus" ]; then
	find "$corpus" -name '*.xz' | while read -r f; do
		name=$(echo "${f#$corpus/}" | tr / _ | sed 's/\.xz$//')
		xz -dc "$f" > "$tmp/c" 2>/dev/null || continue
		[ "$(stat -c %s "$tmp/c")" -le 1048576 ] && mv "$tmp/c" "$out/$name"
		rm -f "$tmp/c"
	done
fi
touch "$out/.done"
echo "fuzz seeds: $(ls "$out" | wc -l) files in $out"
