#!/usr/bin/env bash
# On a machine with a GPU: the GPU half of the cross-backend check, and GPU vs CPU timings.
#   scripts/gpu_check.sh                     builds with --features gpu and runs the wgpu unit test too
#   FACEMB=/path/to/facemb scripts/gpu_check.sh   uses a prebuilt `--features gpu` binary (no cargo needed)
# LOG=dir keeps the checkpoints, embeddings and logs there (default: a temporary folder).
# Exits non-zero when the GPU is unusable or the two backends disagree.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${FACEMB:-}" ]; then
  cargo build --release --features gpu
  cargo test --release --features gpu --lib -- wgpu
  FACEMB=target/release/facemb
fi
work=${LOG:-$(mktemp -d)}
mkdir -p "$work"
echo "== GPU probe and shader warm-up"
"$FACEMB" bench --backend wgpu --steps 2 --warmup 1

echo "== cross-backend: a checkpoint trained on one backend embeds the same on the other"
for trained in flex wgpu; do
  "$FACEMB" train --backend $trained --epochs 1 --max-per-class 300 --name xb-$trained --out "$work/ckpt" --quiet
  for used in flex wgpu; do
    "$FACEMB" infer --backend $used -m "$work/ckpt/xb-$trained" --input-directory datasets/att_faces \
      --out "$work/emb-$trained-on-$used" --no-charts --methods kmeans --quiet >/dev/null
  done
  python3 - "$work/emb-$trained-on-flex/embeddings.npy" "$work/emb-$trained-on-wgpu/embeddings.npy" "$trained" <<'EOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
scale = max(1e-6, float(np.abs(a).max()))
diff = float(np.abs(a - b).max())
print(f"trained on {sys.argv[3]}: {a.shape[0]} images x {a.shape[1]} dims, max |flex - wgpu| = {diff:.2e} (max |x| = {scale:.2f})")
sys.exit(0 if diff <= 1e-3 * max(1.0, scale) else 1)
EOF
done

echo "== network throughput (random inputs), default and 4x-wider network"
for b in flex wgpu; do
  "$FACEMB" bench --backend $b --steps 20
  "$FACEMB" bench --backend $b --steps 20 --channels 128,256,512 --train-batch 256 --infer-batch 256
done

echo "== the default training run on the GPU (configs/default.toml)"
start=$(date +%s)
"$FACEMB" train --backend wgpu --out "$work/ckpt" --quiet
echo "wall: $(( $(date +%s) - start )) s"
"$FACEMB" infer --backend wgpu -m "$work/ckpt/default" --input-directory datasets/att_faces \
  --out "$work/att-wgpu" --no-charts --quiet
