#!/usr/bin/env bash
# The GPU profiling run, on a machine with an NVIDIA GPU, python3 and PyTorch (CUDA).
#
#   npx tsx bench/inference/measure-gpu.ts --specs bench/inference/gpu/specs.json   # where Node runs
#   bash bench/inference/gpu/measure.sh OUT NAME [--tf32-too]                         # on the GPU machine
#
# writes OUT/NAME-smi.csv (the GPU's clocks, power limit and PCIe link), OUT/NAME-fp32.json (three passes,
# with the run split into parts) and, with --tf32-too, OUT/NAME-tf32.json. A short run of two models goes
# first, so that a broken setup fails in seconds. Import the files with measure-gpu.ts --import / --check.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: measure.sh OUT NAME [--tf32-too]" >&2
  exit 2
fi
out=$(cd "$1" && pwd)
name=$2
cd "$(dirname "$0")"
if [ ! -f specs.json ]; then
  echo "specs.json is missing: run npx tsx bench/inference/measure-gpu.ts --specs bench/inference/gpu/specs.json" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem,power.limit,pcie.link.gen.max,pcie.link.width.max \
  --format=csv | tee "$out/$name-smi.csv"
python3 profile_torch.py specs.json "$out/smoke.json" --passes 1 --only preprocess,detector \
  --min-samples 5 --min-duration-ms 20 --warmup 2 --component-runs 10 > "$out/smoke.log" 2>&1 ||
  { cat "$out/smoke.log"; exit 1; }
python3 profile_torch.py specs.json "$out/$name-fp32.json" --passes 3 > "$out/$name-fp32.log" 2>&1
tail -n 2 "$out/$name-fp32.log"
if [ "${3:-}" = "--tf32-too" ]; then
  python3 profile_torch.py specs.json "$out/$name-tf32.json" --passes 1 --tf32 --component-runs 0 \
    > "$out/$name-tf32.log" 2>&1
  tail -n 1 "$out/$name-tf32.log"
fi
