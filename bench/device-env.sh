# Sourced by the device scripts (gpu-check.sh, gpu-study.sh, device-utilization.sh) with B (the .device bundle) and
# NAME (for messages) set: NODE is this machine's node, or the bundle's unpacked to /tmp (no Node.js there;
# BUNDLED_NODE=1 takes the bundle's even here), and dist/ is pointed at the bundle's addon, modules and data (the CLI's
# and the queue's modules, packed apart, unpacked to /tmp: `nos` loads commander and bullmq when it starts).
NODE=$([ -z "${BUNDLED_NODE:-}" ] && command -v node || true)
if [ -z "$NODE" ]; then
  NODE=/tmp/nos-node
  [ -x "$NODE" ] || { xz -dc "$B/node.xz" > "$NODE.tmp" && chmod +x "$NODE.tmp" && mv "$NODE.tmp" "$NODE"; } || { echo "$NAME: cannot unpack $B/node.xz" >&2; exit 1; }
fi
MODULES=/tmp/nos-device-modules-$(stat -c %s-%Y "$B/queue-modules.tar.xz" 2>/dev/null)  # one per bundle
if [ -f "$B/queue-modules.tar.xz" ] && [ ! -d "$MODULES/node_modules" ]; then
  rm -rf "$MODULES.tmp" && mkdir -p "$MODULES.tmp" && xz -dc "$B/queue-modules.tar.xz" | tar -C "$MODULES.tmp" -xf - && rm -rf "$MODULES" && mv "$MODULES.tmp" "$MODULES" \
    || echo "$NAME: cannot unpack the CLI's modules ($B/queue-modules.tar.xz): what runs \`nos\` fails" >&2
fi
export NOS_ADDON=$B/nos.node NODE_PATH=$B/node_modules:$MODULES/node_modules NOS_TEST_DATA=$B/fashion-mnist
export NOS_CACHE_DIR=${NOS_CACHE_DIR:-/tmp/nos-kernel-cache}
# Here (a dry run) a module found in the repository's node_modules instead of the bundle's is an error, as there.
export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--require \"$B/dist/bench/device-hermetic.js\""  # quoted: a path with spaces
