#!/usr/bin/env bash
# One benchmark table: facemb beside the Python stack it replaces, measured in one run.
# Run it on a quiet machine (the load average is printed at start and end).
#
#   scripts/bench.sh                 facemb only
#   PEERS_VENV=../peers-venv scripts/bench.sh   + PyTorch, sklearn, umap-learn through
#                                    ../shared/peers/speed.py, with ratio columns
#
# Environment: LFW (default ../shared/datasets/lfw_identities), CKPT (default
# checkpoints/default; trained by `facemb train` when missing), BENCH_OUT (default
# results/bench: every raw output is kept there), N (blob sizes, default 1000,5000).
set -euo pipefail
cd "$(dirname "$0")/.."
LFW=${LFW:-../shared/datasets/lfw_identities}
CKPT=${CKPT:-checkpoints/default}
OUT=${BENCH_OUT:-results/bench}
N=${N:-1000,5000}
mkdir -p "$OUT"
cargo build --release --quiet
bin=target/release/facemb
[ -f "$CKPT/model.bpk" ] || "$bin" train --quiet
[ -d "$LFW" ] || { echo "no LFW folder at $LFW (set LFW=...)" >&2; exit 1; }

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "load average at start: $(loadavg)" | tee "$OUT/load.txt"

echo "== network throughput (random inputs)" >&2
"$bin" bench --backend flex --steps 30 | tee "$OUT/net_flex.txt"
"$bin" bench --backend flex --steps 10 --unfused | tee "$OUT/net_flex_unfused.txt"
"$bin" bench --backend ndarray --steps 3 --warmup 1 | tee "$OUT/net_ndarray.txt"

echo "== end-to-end infer on $LFW" >&2
/usr/bin/time -f '%e %M' -o "$OUT/infer_time.txt" \
  "$bin" infer -m "$CKPT" --input-directory "$LFW" --out "$OUT/lfw" --no-charts --methods kmeans --quiet \
  >"$OUT/infer_stdout.txt" 2>"$OUT/infer_stderr.txt"
cat "$OUT/infer_time.txt"
# The same work in one process, interleaved with the network alone, as medians: one cold
# run of a 2–3 s command is at the mercy of the machine's ±10 % noise.
"$bin" bench-infer --folder "$LFW" -m "$CKPT" --rounds 5 | tee "$OUT/infer_rounds.txt"

echo "== projections and clusterers" >&2
"$bin" bench-cluster --n "$N" --real "$OUT/lfw" | tee "$OUT/cluster.md"

if [ -n "${PEERS_VENV:-}" ]; then
  py="$PEERS_VENV/bin/python"
  # speed.py reads real vectors from an npz with keys 'dlib' and 'labels': give it ours.
  "$py" - "$OUT/lfw" "$OUT/lfw.npz" <<'EOF'
import csv, sys, numpy as np
d = sys.argv[1]
x = np.load(f"{d}/embeddings.npy")
ids = [row["identity"] for row in csv.DictReader(open(f"{d}/index.csv"))]
names = {n: i for i, n in enumerate(dict.fromkeys(ids))}
files = [row["path"] for row in csv.DictReader(open(f"{d}/index.csv"))]
np.savez(sys.argv[2], dlib=x, labels=np.array([names[n] for n in ids]), files=np.array(files))
EOF
  echo "== peers: ../shared/peers/speed.py" >&2
  "$py" -W ignore ../shared/peers/speed.py --n "$N" --real "$OUT/lfw.npz" --skip opentsne,opentsne-auto \
    | tee "$OUT/peers.md"
  echo "== peers: layout quality (trustworthiness, k = 10)" >&2
  "$py" -W ignore scripts/peers_quality.py --n "$N" --real "$OUT/lfw.npz" | tee "$OUT/peers_quality.md"
  echo "== peers: match's nearest-person search (sklearn, as face_recognition's example)" >&2
  "$bin" bench-split -id "$LFW" --out "$OUT/split.csv"
  "$py" -W ignore scripts/peer_match.py "$OUT/lfw.npz" "$OUT/split.csv" | tee "$OUT/peer_match.md"
fi
echo "load average at end: $(loadavg)" | tee -a "$OUT/load.txt"
python3 scripts/bench_table.py "$OUT" | tee "$OUT/table.md"
