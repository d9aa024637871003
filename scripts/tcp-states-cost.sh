#!/usr/bin/env bash
# What counting TCP states by port costs per collection as the host's connection count grows: opens N
# loopback connections (2N sockets, ESTABLISHED both ends) and runs the sockdiag bench. Usage:
# scripts/tcp-states-cost.sh [N ...]   (default: 0 1000 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536
for n in "${@:-0 1000 10000}"; do
  python3 - "$n" <<'PY' &
import socket, sys, time, os
n = int(sys.argv[1])
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(4096)
keep = []
for _ in range(n):
    c = socket.create_connection(srv.getsockname()); s, _ = srv.accept(); keep += [c, s]
open(f"/tmp/wasp-tcpcost.{os.getpid()}", "w").close()
time.sleep(3600)
PY
  PY=$!
  for _ in $(seq 1 600); do [ -e "/tmp/wasp-tcpcost.$PY" ] && break; sleep 0.1; done
  echo "== $n connections"
  cargo bench -q --bench collect -- "sockdiag" 2>/dev/null | grep -E "TCP sockets|time:"
  kill $PY; rm -f "/tmp/wasp-tcpcost.$PY"
done
