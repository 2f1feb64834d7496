#!/usr/bin/env bash
# The child engine's device check (issue 11): one call of the device tool on a machine with an NVIDIA GPU, no Node.js
# and no registry, with .device/ carried (bench/gpu-bundle.sh makes it).  Runs test/gpu, bench/gpu-engine.ts and the
# GPU section of bench/update-throughput.ts on the GPU and prints one table; logs and the JSON of every figure go to
# $OUT (default /tmp/nos-gpu-check).
# Without a usable GPU (a dry run here) it says so, runs test/gpu (which skips itself) and the benchmark on the
# engine's CPU twin with a small protocol, and labels the table DRY RUN.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/.device
OUT=${OUT:-/tmp/nos-gpu-check}
mkdir -p "$OUT"
[ -d "$B/dist" ] || { echo "gpu-check: $B/dist is missing: run bench/gpu-bundle.sh and carry .device" >&2; exit 2; }
NAME=gpu-check
# shellcheck source=bench/device-env.sh
. "$PWD/bench/device-env.sh"  # the script is in the repository root by now
echo "node $("$NODE" --version) at $NODE; $(nproc) CPUs; $(command -v g++ >/dev/null && g++ --version | head -1 || echo 'no g++')"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not here"
if "$NODE" -e "require('$B/dist/src/runtime/binding').loadAddon().cudaDeviceInfo()" 2>"$OUT/gpu-probe.txt"; then
  GPU=yes
else
  GPU=no
  echo "DRY RUN: no usable GPU ($(grep -m1 'Error' "$OUT/gpu-probe.txt" | cut -c1-200)); test/gpu skips itself and the benchmark runs on the CPU twin"
fi
start=$(date +%s)
# A kernel that hangs (a barrier some threads never reach) must not take the whole call: test/gpu gets TEST_SECONDS.
timeout "${TEST_SECONDS:-180}" "$NODE" --test --test-concurrency=1 "$B"/dist/test/gpu/*.test.js > "$OUT/test-gpu.log" 2>&1
tests_rc=$?
tests=$(grep -E '^# (pass|fail|skipped)' "$OUT/test-gpu.log" | tr '\n' ' ')
echo "test/gpu: exit $tests_rc, $tests($(( $(date +%s) - start )) s; log $OUT/test-gpu.log)"
[ "$tests_rc" != 124 ] || echo "test/gpu: stopped after ${TEST_SECONDS:-180} s (a hung kernel?); last test started: $(grep -E '^# Subtest' "$OUT/test-gpu.log" | tail -1)"
grep -E '^not ok|error:' "$OUT/test-gpu.log" | head -20
# Tiled kernels that failed their GPU test are not timed: a faulting kernel can leave the CUDA context unusable; nor
# after a hang, as they are the only kernels with barriers.
if grep -q '^not ok .*tiled convolution kernels' "$OUT/test-gpu.log" || [ "$tests_rc" = 124 ]; then
  BENCH_SKIP="${BENCH_SKIP:+$BENCH_SKIP,}tiled"
  echo "test/gpu failed (or hung before passing) the tiled convolution kernels: the benchmark skips them (the rate runs with the direct ones)"
fi
if [ "$GPU" = yes ]; then
  BENCH=(--device cuda --data "$B/fashion-mnist" --reference bench/gpu-reference.json --rate-seconds "${RATE_SECONDS:-150}")
  [ -z "${BENCH_SKIP:-}" ] || BENCH+=(--skip "$BENCH_SKIP")  # e.g. BENCH_SKIP=rate when device time is short
else
  printf '{ "extends": "quick", "name": "dry-run", "trainExamples": 1000, "validationExamples": 500 }\n' > "$OUT/dry-run.json"
  BENCH=(--device host --data "$B/fashion-mnist" --protocol "$OUT/dry-run.json" --children 4 --rate-seconds 30 --skip torch)
fi
start=$(date +%s)
"$NODE" "$B/dist/bench/gpu-engine.js" "${BENCH[@]}" --json "$OUT/gpu-engine.json" 2> "$OUT/gpu-engine.log" | tee "$OUT/table.txt"
bench_rc=${PIPESTATUS[0]}
echo "bench/gpu-engine: exit $bench_rc ($(( $(date +%s) - start )) s; log $OUT/gpu-engine.log)"
# The optimizer's own CUDA kernel (createOptimizer's device 'cuda', nos-compile --emit cuda) on device-resident
# tensors against the copy bandwidth, a kernel of the same traffic and PyTorch's fused Adam (says why where skipped).
start=$(date +%s)
timeout "${UPDATE_SECONDS:-120}" "$NODE" "$B/dist/bench/update-throughput.js" --only gpu > "$OUT/update-throughput.txt" 2>&1
update_rc=$?
sed -n '/^## GPU/,$p' "$OUT/update-throughput.txt" | tee -a "$OUT/table.txt"
echo "bench/update-throughput --only gpu: exit $update_rc ($(( $(date +%s) - start )) s; log $OUT/update-throughput.txt)"
# The PyTorch exports on CUDA tensors (test/export/cuda-export-check.ts), when the machine's python3 has a CUDA torch;
# last, so that a slow build of the fused extension costs nothing above.  Compared with nos's trajectories back
# here: node dist/test/export/cuda-export-check.js compare build/export-check OUT/export-result.json
export_rc=0
if [ "$GPU" = yes ] && [ "${EXPORT_SECONDS:-240}" != 0 ] && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  start=$(date +%s)
  (cd "$B/export-check" && timeout "${EXPORT_SECONDS:-240}" python3 torch-export-run.py < spec.json > "$OUT/export-result.json" 2> "$OUT/export.log")
  export_rc=$?
  echo "export check: torch's run exit $export_rc, $(wc -c < "$OUT/export-result.json") bytes of results to compare here ($(( $(date +%s) - start )) s; log $OUT/export.log)"
else
  echo "export check: skipped (no GPU, EXPORT_SECONDS=0, or no CUDA torch for python3)"
fi
[ "$GPU" = yes ] || echo "DRY RUN: the figures above are the CPU twin's on a small protocol, not a GPU's"
exit $(( tests_rc != 0 || bench_rc != 0 || update_rc != 0 || export_rc != 0 ))
