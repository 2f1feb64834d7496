#!/usr/bin/env bash
# The search's utilization check (issue 9) for one call of the device tool on a bare many-core machine (no Node.js,
# no redis-server, no registry), with .device/ carried (bench/gpu-bundle.sh makes it): 200 fake jobs of 500 ms on 8
# local workers and on 8 `nos worker`s sharing the carried redis-server, with the breakdown of the fleet's time.
# Prints one table; the whole output and the log go to $OUT (default /tmp/nos-utilization).  Under a minute.
set -uo pipefail
cd "$(dirname "$0")/.."
B=$PWD/.device
OUT=${OUT:-/tmp/nos-utilization}
mkdir -p "$OUT"
for f in dist queue-modules.tar.xz redis.tar.xz; do
  [ -e "$B/$f" ] || { echo "device-utilization: $B/$f is missing: run bench/gpu-bundle.sh and carry .device" >&2; exit 2; }
done
NAME=device-utilization
# shellcheck source=bench/device-env.sh
. "$PWD/bench/device-env.sh"  # the script is in the repository root by now
# redis-server, unpacked outside the bundle (the queue's modules: device-env.sh), runs through a wrapper on PATH that
# gives it its carried libraries (node itself keeps the machine's).
U=$(mktemp -d /tmp/nos-utilization-XXXXXX)
trap 'rm -rf "$U"' EXIT
xz -dc "$B/redis.tar.xz" | tar -C "$U" -xf - || { echo "device-utilization: cannot unpack redis-server" >&2; exit 1; }
mkdir -p "$U/bin"
printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/redis/lib exec %s/redis/redis-server "$@"\n' "$U" "$U" > "$U/bin/redis-server"
chmod +x "$U/bin/redis-server"
export PATH=$U/bin:$PATH
echo "node $("$NODE" --version) at $NODE; $(redis-server --version | cut -d' ' -f1-3); $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
"$NODE" "$B/dist/bench/search-utilization.js" --skip-sync --trace "$@" 2> "$OUT/utilization.log" | tee "$OUT/utilization.txt"
rc=${PIPESTATUS[0]}
echo "bench/search-utilization: exit $rc ($(( $(date +%s) - start )) s; log $OUT/utilization.log)"
[ "$rc" = 0 ] || tail -20 "$OUT/utilization.log"
exit "$rc"
