#!/usr/bin/env bash
# Scores a checkpoint's identity separation on the three evaluation folders, for each way
# of reading the embedding (after / before the ReLU, with / without flip averaging, all
# L2-normalised), beside raw pixels, as one markdown table.
#   scripts/identity_eval.sh checkpoints/identity [out_dir]
# Environment: SETS (default: lfw_identities att_faces yale_faces under ../shared/datasets).
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=$1
OUT=${2:-results/identity_eval/$(basename "$CKPT")}
SHARED=${SHARED:-../shared/datasets}
SETS=${SETS:-"lfw_identities att_faces yale_faces"}
bin=target/release/facemb
[ -x "$bin" ] || cargo build --release --quiet
mkdir -p "$OUT"
for set in $SETS; do
  for layer in relu linear; do
    for flip in "" "--flip"; do
      tag="$set-$layer${flip:+-flip}"
      "$bin" infer -id "$SHARED/$set" -m "$CKPT" --layer "$layer" $flip --normalize --no-charts --quiet \
        --out "$OUT/$tag" >/dev/null 2>"$OUT/$tag.log"
    done
  done
  [ -f "$OUT/$set-pixels/scores.json" ] || "$bin" pixels -id "$SHARED/$set" --normalize --no-charts --quiet \
    --out "$OUT/$set-pixels" >/dev/null 2>"$OUT/$set-pixels.log"
done
python3 - "$OUT" $SETS <<'PY'
import json, os, sys
out, sets = sys.argv[1], sys.argv[2:]
print("| folder | vectors | 1-NN | k-means ARI | DBSCAN ARI | CW ARI | CW clusters |")
print("|---|---|---|---|---|---|---|")
for s in sets:
    for tag in ["relu", "relu-flip", "linear", "linear-flip", "pixels"]:
        p = os.path.join(out, f"{s}-{tag}", "scores.json")
        if not os.path.exists(p):
            continue
        j = json.load(open(p))
        m = {x["method"]: x for x in j["methods"]}
        print(f"| {s} | {tag} | {j['one_nn_accuracy']:.3f} | {m['kmeans']['ari']:.3f} | {m['dbscan']['ari']:.3f} | "
              f"{m['chinese_whispers']['ari']:.3f} | {m['chinese_whispers']['clusters']} |")
PY
