#!/usr/bin/env bash
# Network throughput (random inputs, after warm-up) of the default network and a 4×-wider
# one, on each backend given (default: flex ndarray; add wgpu on a GPU build:
#   cargo build --release --features gpu && scripts/bench_net.sh flex wgpu).
# Run on a quiet machine; prints one line per backend × network.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x target/release/facemb ] || cargo build --release
backends=("${@:-flex}")
[ $# -gt 0 ] || backends=(flex ndarray)
for b in "${backends[@]}"; do
  steps=20; [ "$b" = ndarray ] && steps=3   # ndarray trains at ~5 img/s
  target/release/facemb bench --backend "$b" --steps $steps
  target/release/facemb bench --backend "$b" --steps $steps --channels 128,256,512 --train-batch 256 --infer-batch 256
done
