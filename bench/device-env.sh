# Sourced by the device scripts (gpu-check.sh, gpu-study.sh, device-utilization.sh) with B (the .device bundle) and
# NAME (for messages) set: NODE is this machine's node, or the bundle's unpacked to /tmp (no Node.js there;
# BUNDLED_NODE=1 takes the bundle's even here), and dist/ is pointed at the bundle's addon, modules and data.
NODE=$([ -z "${BUNDLED_NODE:-}" ] && command -v node || true)
if [ -z "$NODE" ]; then
  NODE=/tmp/nos-node
  [ -x "$NODE" ] || { xz -dc "$B/node.xz" > "$NODE.tmp" && chmod +x "$NODE.tmp" && mv "$NODE.tmp" "$NODE"; } || { echo "$NAME: cannot unpack $B/node.xz" >&2; exit 1; }
fi
export NOS_ADDON=$B/nos.node NODE_PATH=$B/node_modules NOS_TEST_DATA=$B/fashion-mnist
export NOS_CACHE_DIR=${NOS_CACHE_DIR:-/tmp/nos-kernel-cache}
