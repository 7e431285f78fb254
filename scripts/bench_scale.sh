#!/usr/bin/env bash
# Scale check: `infer` on SCALE_N images (default 100 000) made by augmenting the shared
# LFW set into a temporary folder (never in git), with wall time, img/s, peak RSS and the
# seconds of each clustering method (scores.json). Needs a python with Pillow: PY, else
# $PEERS_VENV/bin/python, else python3. Run on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
LFW=${LFW:-../shared/datasets/lfw_identities}
CKPT=${CKPT:-checkpoints/default}
N=${SCALE_N:-100000}
DIR=${SCALE_DIR:-/tmp/facemb-scale-$N}
OUT=${BENCH_OUT:-results/bench}/scale-$N
PY=${PY:-${PEERS_VENV:+$PEERS_VENV/bin/python}}
PY=${PY:-python3}
cargo build --release --quiet
[ -f "$CKPT/model.bpk" ] || target/release/facemb train --quiet
echo "== making $N images in $DIR" >&2
"$PY" scripts/augment.py "$LFW" "$DIR" --n "$N"
echo "== infer (t-SNE and UMAP charts included)" >&2
mkdir -p "$OUT"
/usr/bin/time -f '%e %M' -o "$OUT/time.txt" target/release/facemb infer -m "$CKPT" --input-directory "$DIR" \
  --out "$OUT" --quiet 2>&1 | tee "$OUT/log.txt"
read -r wall rss <"$OUT/time.txt"
echo "images: $N, wall: ${wall} s, peak RSS: $((rss / 1024)) MB"
python3 - "$OUT/scores.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for m in s["methods"]:
    print(f"{m['method']}: {m['seconds']:.1f} s, {m['clusters']} clusters, ARI {m['ari']:.3f}")
PY
