#!/usr/bin/env bash
# Cost of reading 10 JVMs: one wasp collection (JVM part, and the whole `wasp once` process) against running
# `jstat -gc` once for each of the same 10 JVMs. Usage: scripts/jvm-overhead.sh  (needs a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
T=$(mktemp -d /tmp/wasp-jvmcost.XXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
javac -d "$T" tests/fixtures/jvm/src/Alloc.java
for i in $(seq 1 10); do
  java -Xmx32m -XX:+UseSerialGC -cp "$T" Alloc >/dev/null 2>&1 & PIDS+=($!)
done
sleep 3
WASP=${WASP_BIN:-target/release/wasp}
python3 - "$WASP" "${PIDS[@]}" <<'PY'
import json, os, resource, subprocess, sys, time
wasp, pids = sys.argv[1], sys.argv[2:]
def cost(cmds):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    outs = [subprocess.run(c, capture_output=True, text=True, check=True).stdout for c in cmds]
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, after.ru_maxrss, outs
w_cpu, w_wall, _, outs = cost([[wasp, "once", "--format", "json", "--interval", "100ms"]])
d = json.loads(outs[0])
jvm_ms = dict(d["timings"]).get("jvm", 0) * 1000
measured = sum(1 for j in d["jvms"] if j["measurable"])
j_cpu, j_wall, j_rss, _ = cost([["jstat", "-gc", p] for p in pids])
print(f"10 JVMs running; wasp measured {measured} of them")
print(f"wasp: JVM collector {jvm_ms:.2f} ms per collection; whole `wasp once` (2 collections + start-up): "
      f"{w_cpu*1000:.0f} ms CPU, {w_wall*1000:.0f} ms wall")
print(f"jstat -gc x10: {j_cpu*1000:.0f} ms CPU, {j_wall*1000:.0f} ms wall, peak RSS of one jstat {j_rss/1024:.0f} MB")
print(f"ratio jstat CPU / wasp JVM collector: {j_cpu*1000/max(jvm_ms,1e-3):.0f}x; "
      f"jstat CPU / whole wasp once process: {j_cpu/max(w_cpu,1e-6):.0f}x")
PY
