#!/usr/bin/env bash
# Prepares .device/ (git-ignored) for bench/gpu-check.sh, which runs on a bare machine with an NVIDIA GPU, no Node.js
# and no registry: a compressed node binary, the built addon and dist/, the node modules the GPU path loads (ajv and
# its dependencies, fflate; not onnxruntime), the paper protocol's Fashion-MNIST images, and the export check's cases; for
# bench/device-utilization.sh also the Redis queue's modules and a redis-server.  Run it here, then hand .device to
# the device tool's `carry` (docs/engine.md, "The device check").
set -euo pipefail
cd "$(dirname "$0")/.."
B=.device
mkdir -p "$B"
npx tsc -p . >/dev/null
# The addon as the sources are now (a stale one would lack what dist/ calls).
if [ ! -f build/Release/nos.node ] || [ -n "$(find native binding.gyp -newer build/Release/nos.node | head -1)" ]; then npm rebuild; fi
rm -rf "$B/dist" "$B/node_modules"
cp -r dist "$B/dist"
# A new file renamed over the old one: cp would rewrite it in place, and a process that has it loaded (a dry run of
# gpu-check.sh beside this) would die of SIGBUS when its mapped pages change under it.
cp build/Release/nos.node "$B/nos.node.tmp" && mv "$B/nos.node.tmp" "$B/nos.node"
for m in ajv fast-deep-equal fast-uri json-schema-traverse require-from-string fflate; do
  mkdir -p "$B/node_modules/$m" && cp -r "node_modules/$m/." "$B/node_modules/$m/"
done
# The node binary only when it changed: xz of ~100 MB takes minutes.
NODE=$(command -v node)
if [ ! -f "$B/node.xz" ] || [ "$(cat "$B/node.version" 2>/dev/null)" != "$(node --version)" ]; then
  xz -T0 -6 -c "$NODE" > "$B/node.xz.tmp" && mv "$B/node.xz.tmp" "$B/node.xz"
  node --version > "$B/node.version"
fi
# The PyTorch exports' check on CUDA tensors (issue 12): nos's side computed here (its 10 MB of trajectories stay in
# build/export-check for the comparison here), torch's run there.
rm -rf build/export-check "$B/export-check" && node dist/test/export/cuda-export-check.js prepare build/export-check >/dev/null
mkdir -p "$B/export-check" && cp build/export-check/*.py build/export-check/spec.json "$B/export-check/"
node dist/bench/gpu-bundle-data.js "$B/fashion-mnist" "${NOS_DATA:-/usr/share/datasets/fashion-mnist}"

# --- For bench/device-utilization.sh (issue 9): the Redis queue's node modules and a redis-server with the shared
# libraries a minimal machine may lack (not glibc, libstdc++ or libgcc, which node needs too), each packed with xz.
node dist/bench/device-modules.js bullmq ioredis commander cli-progress > "$B/queue-modules.txt"
tar -cf - -T "$B/queue-modules.txt" | xz -T0 -6 > "$B/queue-modules.tar.xz"
rm -f "$B/redis.tar.xz"
if ! REDIS=$(command -v redis-server); then
  echo "gpu-bundle: redis-server is not installed here (apt-get install redis-server): the bundle leaves out the utilization check's" >&2
else
rm -rf "$B/redis" && mkdir -p "$B/redis/lib"
cp "$(readlink -f "$REDIS")" "$B/redis/redis-server"
ldd "$REDIS" | awk '$3 ~ /^\// { print $3 }' | grep -Ev '/(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|ld-linux[^/]*)\.so' \
  | while read -r lib; do cp -L "$lib" "$B/redis/lib/"; done
tar -C "$B" -cf - redis | xz -T0 -6 > "$B/redis.tar.xz" && rm -rf "$B/redis"
fi
# --- end of the utilization check's part
size=$(du -sm "$B" | cut -f1)
echo "$B: ${size} MiB (the device tool carries at most 64 MiB with the working tree)"
[ "$size" -lt 60 ] || { echo "$B is too large to carry" >&2; exit 1; }
