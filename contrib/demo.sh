#!/bin/sh
# make demo: crash a small multi-threaded program into a core, mount the core with corefs, show
# what it holds (maps, the crashing thread's registers, a summary of core.json), then unmount.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/corefs-demo.XXXXXX)
mnt="$work/mnt"
cleanup() {
	if grep -qs " $mnt " /proc/mounts; then fusermount3 -u "$mnt" || true; fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "building the sample: contrib/demo/crashdemo.c (3 threads, one dereferences NULL)"
cc -g -O0 -pthread -o "$work/crashdemo" "$top/contrib/demo/crashdemo.c"

say "running it until it crashes"
pattern=$(cat /proc/sys/kernel/core_pattern)
case "$pattern" in
/*|\|*) echo "kernel.core_pattern is '$pattern': cores do not land in the current directory." >&2
	echo "As root: sysctl -w kernel.core_pattern=core  (and restore it afterwards)" >&2
	exit 1 ;;
esac
(cd "$work" && ulimit -c unlimited && exec ./crashdemo) || true
core=$(ls -t "$work"/core* 2>/dev/null | head -n1 || true)
[ -n "$core" ] || { echo "no core was written in $work (core_pattern '$pattern')" >&2; exit 1; }
ls -l "$core"

say "mounting: corefs $core $mnt"
mkdir "$mnt"
"$top/corefs" "$core" "$mnt"
# cwd and root are links a core cannot fill: readlink is refused (EACCES) as procfs refuses it
# for a process one may not trace, and ls says so on stderr.
ls -l "$mnt" "$mnt/task" 2>/dev/null || true

say "cat $mnt/maps"
cat "$mnt/maps"

tid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["signal"]["tid"])' "$mnt/core.json")
say "cat $mnt/task/$tid/regs   (the thread that took the signal)"
cat "$mnt/task/$tid/regs"

say "summary of core.json"
python3 - "$mnt/core.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
s = j["signal"]
print(f"process {j['pid']} ({j['comm']}), {j['arch']} {j['format']} core written by the {j['producer']}")
print(f"executable {j['exe']}, command line {j['cmdline']}")
print(f"killed by {s['name']} (signal {s['number']}, code {s['code']}) at address {s['addr']} in thread {s['tid']}")
for t in j["threads"]:
    print(f"  thread {t['tid']}: pc {t['pc']} sp {t['sp']}")
held = sum(m["in_core_bytes"] for m in j["mappings"])
print(f"{len(j['mappings'])} mappings, {held} bytes of memory in the core")
for p in j["problems"]:
    print(f"note: {p}")
PY

addr=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(int([m for m in j["mappings"] if m["path"] and m["path"].endswith("crashdemo") and m["perms"].startswith("rw")][0]["start"],16))' "$mnt/core.json")
say "the executable's data page, read through $mnt/mem at its address"
python3 - "$mnt/mem" "$addr" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
data = os.pread(fd, 4096, int(sys.argv[2]))
i = data.find(b"corefs demo")
print(data[i:data.index(b"\0", i)].decode() if i >= 0 else "(string not found)")
PY

say "unmounting: fusermount3 -u $mnt"
fusermount3 -u "$mnt"
grep -qs " $mnt " /proc/mounts && { echo "still mounted!" >&2; exit 1; }
echo "done: nothing left mounted"
