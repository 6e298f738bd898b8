#!/usr/bin/env bash
# End-to-end benchmark: a fresh `scry` on a temporary data folder, loaded by
# scry-tracegen over OTLP/gRPC on the same machine: first at a fixed 20k
# spans/s for the latency figure, then at 60k spans/s for the memory figure,
# then as fast as it answers, then Jaeger API searches and trace fetches
# over what it stored, once compaction is done. Prints throughput, export
# latency percentiles, the server's peak RSS and query latencies.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DURATION=${DURATION:-30s}
data=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT

"$BIN/scry" --data-dir "$data" --log-level warn \
  --otlp-grpc-addr 127.0.0.1:24317 --otlp-http-addr 127.0.0.1:24318 \
  --http-addr 127.0.0.1:26686 --admin-addr 127.0.0.1:24269 &
pid=$!
for _ in $(seq 100); do
  curl -fs http://127.0.0.1:24269/readyz >/dev/null 2>&1 && break
  sleep 0.1
done

echo "== latency at 20k spans/s on the fresh store, $DURATION"
"$BIN/scry-tracegen" --endpoint 127.0.0.1:24317 --duration "$DURATION" --workers 4 --rate 20000 --watch-pid "$pid"
echo "== 60k spans/s, $DURATION (peak RSS: the process's high-water mark so far)"
"$BIN/scry-tracegen" --endpoint 127.0.0.1:24317 --duration "$DURATION" --workers 8 --rate 60000 --watch-pid "$pid"
echo "== max throughput, OTLP/gRPC, batches of 500 spans, 8 exporters, $DURATION"
"$BIN/scry-tracegen" --endpoint 127.0.0.1:24317 --duration "$DURATION" --workers 8 --watch-pid "$pid"
echo "== store on disk: $(du -sh "$data" | cut -f1)"
# Badger compacts what the max phase wrote for a while after it; queries are
# measured once the server is idle (under 10% of a core for 2 s, at most 90 s).
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
idle=0 waited=0
for _ in $(seq 90); do
  waited=$((waited + 1))
  a=$(cpu); sleep 1; b=$(cpu)
  if [ $((b - a)) -lt 10 ]; then idle=$((idle + 1)); else idle=0; fi
  [ $idle -ge 2 ] && break
done
echo "== server idle after ${waited}s; RSS now $(awk '/VmRSS/ {print int($2/1024)}' "/proc/$pid/status") MB"
echo "== query latency over what was stored"
"$BIN/scry-tracegen" --duration 0 --query-url http://127.0.0.1:26686 --query-rounds 500
