#!/usr/bin/env bash
# On a machine with a GPU: build with wgpu, run the cross-backend test (a flex checkpoint
# embeds the same on wgpu and back), and time the networks on flex and wgpu.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --features gpu
cargo test --release --features gpu --lib -- wgpu
target/release/facemb bench --backend wgpu --steps 5 --warmup 1 >/dev/null 2>&1 || true  # shader compile warm-up
scripts/bench_net.sh flex wgpu
