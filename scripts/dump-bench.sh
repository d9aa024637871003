#!/usr/bin/env bash
# Wall time and peak RSS of a thread dump, side by side on the same JVM: `wasp dump threads` against
# `jstack -l` and `jcmd Thread.print -l`, 9 runs each. Peak RSS comes from GNU time (%M): measuring from a
# Python parent would count the parent's pre-exec copy. Usage: scripts/dump-bench.sh (needs a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
T=$(mktemp -d /tmp/wasp-dumpbench.XXXX)
trap 'kill $JPID 2>/dev/null || true; rm -rf "$T"' EXIT
javac -d "$T" tests/fixtures/dumps/Lab.java
# IDLE idle threads beside the Lab's own (default 2,000: a ~1 MB dump, the size the memory target is set for).
java -Xmx64m -cp "$T" Lab "idle=${IDLE:-2000}" > "$T/out" 2>&1 & JPID=$!
for _ in $(seq 1 100); do grep -q ready "$T/out" 2>/dev/null && break; sleep 0.1; done
sleep 1
WASP=${WASP_BIN:-target/release/wasp}
python3 - "$WASP" "$JPID" <<'PY'
import os, subprocess, sys, time
wasp, pid = sys.argv[1], sys.argv[2]
def run(cmd, n=9, env=None):
    walls, rss = [], 0
    for _ in range(n):
        t = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True, env=env)
        walls.append(time.monotonic() - t)
        rss = max(rss, int(p.stderr.strip().splitlines()[-1]))
    walls.sort()
    return walls[len(walls) // 2], rss / 1024
# One dump first: the attach listener starts, and the JVM's first dumps are slower; every row gets a warm JVM.
subprocess.run([wasp, "dump", "threads", pid], stdout=subprocess.DEVNULL, check=True)
# With no configuration file, and with the packaged one (as on an installed host: parsing it costs ~0.4 MB).
res = {
    "wasp dump threads": run([wasp, "dump", "threads", pid]),
    "  with packaged config": run([wasp, "dump", "threads", pid], env=dict(os.environ, WASP_CONFIG="packaging/wasp.toml")),
    "jstack -l": run(["jstack", "-l", pid]),
    "jcmd Thread.print -l": run(["jcmd", pid, "Thread.print", "-l"]),
}
w = res["wasp dump threads"]
print(f"{'command':<26}{'median wall ms':>16}{'peak RSS MB':>13}")
for k, (wall, rss) in res.items():
    print(f"{k:<26}{wall*1000:>16.1f}{rss:>13.1f}")
c = res["  with packaged config"]
for k in ("jstack -l", "jcmd Thread.print -l"):
    print(f"{k}: {res[k][0]/w[0]:.1f}x the wall time, {res[k][1]/w[1]:.1f}x the memory of wasp "
          f"({res[k][0]/c[0]:.1f}x, {res[k][1]/c[1]:.1f}x with the packaged config)")
PY
