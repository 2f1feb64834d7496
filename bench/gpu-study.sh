#!/usr/bin/env bash
# The search study of issue 10 on the GPU's child engine: PPO (learningRate=3e-4, the CPU study's settings) against
# random search and regularized evolution, 1,000 rules per search, quick protocol, sign-family seeds 1-3 and
# paper-full seed 1, windows of 100 (bench/search-compare.ts --device cuda).  One call of the device tool with .device
# carried (bench/gpu-bundle.sh makes it); it runs at most STUDY_SECONDS (default 420), then stops as Ctrl-C does and
# still writes the summary and figure of what finished.  Everything goes to $OUT/study (search folders, result cache,
# summary.json, study.svg) and $OUT/study.log; $OUT/study-folders.tar.xz packs the folder small enough to carry:
# a later call with STUDY_FROM=that file (in the working tree) resumes the study where it stopped.
# Without a usable GPU (a dry run here) it says so and runs the same study on the engine's CPU twin with a small
# protocol and budget (DRY RUN).  Settings: BUDGET, WINDOW, IN_FLIGHT (rules in flight per search), STUDY_SECONDS,
# STRATEGIES (default ppo,random,evolution).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/.device
OUT=${OUT:-/tmp/nos-gpu-study}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
[ -d "$B/dist" ] || { echo "gpu-study: $B/dist is missing: run bench/gpu-bundle.sh and carry .device" >&2; exit 2; }
NAME=gpu-study
# shellcheck source=bench/device-env.sh
. "$PWD/bench/device-env.sh"  # the script is in the repository root by now
STUDY_SECONDS=${STUDY_SECONDS:-420}
echo "node $("$NODE" --version) at $NODE; $(nproc) CPUs"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not here"
if "$NODE" -e "require('$B/dist/src/runtime/binding').loadAddon().cudaDeviceInfo()" 2>"$OUT/gpu-probe.txt"; then
  DEVICE=cuda PROTOCOL=quick
  BUDGET=${BUDGET:-1000} WINDOW=${WINDOW:-100}
else
  DEVICE=host
  echo "DRY RUN: no usable GPU ($(grep -m1 'Error' "$OUT/gpu-probe.txt" | cut -c1-200)); the study runs on the engine's CPU twin with a small protocol and budget"
  PROTOCOL=$OUT/dry-run.json
  printf '{ "extends": "quick", "name": "dry-run", "trainExamples": 1000, "validationExamples": 500 }\n' > "$PROTOCOL"
  BUDGET=${BUDGET:-20} WINDOW=${WINDOW:-10}
fi
STUDY=$OUT/study
if [ -n "${STUDY_FROM:-}" ] && [ ! -d "$STUDY" ]; then
  tar -xJf "$STUDY_FROM" -C "$OUT" || { echo "gpu-study: cannot unpack STUDY_FROM=$STUDY_FROM" >&2; exit 2; }
  echo "resuming the study packed in $STUDY_FROM"
fi
ARGS=(--skip rate --device "$DEVICE" --protocol "$PROTOCOL" --data "$B/fashion-mnist" --budget "$BUDGET" --window "$WINDOW"
  --space sign-family:1,2,3 --space paper-full:1 --strategies "${STRATEGIES:-ppo,random,evolution}" --ppo learningRate=3e-4 --label lr3e-4
  --out "$STUDY" --progress-seconds 30 --stop-after "$STUDY_SECONDS")
[ -n "${IN_FLIGHT:-}" ] && ARGS+=(--in-flight "$IN_FLIGHT")
echo "study: node dist/bench/search-compare.js ${ARGS[*]}"
start=$(date +%s)
# --stop-after stops the study cleanly; the timeout is only a backstop should stopping itself hang.
timeout -k 30 -s INT $(( STUDY_SECONDS + 180 )) "$NODE" "$B/dist/bench/search-compare.js" "${ARGS[@]}" 2>&1 | tee "$OUT/study.log"
study_rc=${PIPESTATUS[0]}
echo "search-compare: exit $study_rc ($(( $(date +%s) - start )) s; log $OUT/study.log)"
tar -cJf "$OUT/study-folders.tar.xz" -C "$OUT" study && echo "packed: $OUT/study-folders.tar.xz, $(du -k "$OUT/study-folders.tar.xz" | cut -f1) KiB (carry it and set STUDY_FROM to continue)"
[ "$DEVICE" = cuda ] || echo "DRY RUN: the figures above are the CPU twin's on a small protocol and budget, not the study's"
exit "$study_rc"
