#!/usr/bin/env bash
# Scores a checkpoint on the three evaluation folders at infer's default parameters (for
# an identity-trained checkpoint: before the ReLU, flip-averaged, L2-normalised, the
# calibrated cuts), beside raw pixels at pixels' defaults, as one markdown table.
#   scripts/identity_eval.sh checkpoints/identity-v6 [out_dir] [extra infer flags...]
# Environment: SETS (default: lfw_identities att_faces yale_faces under ../shared/datasets).
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=$1
OUT=${2:-results/identity_eval/$(basename "$CKPT")}
shift $(( $# < 2 ? $# : 2 ))
SHARED=${SHARED:-../shared/datasets}
SETS=${SETS:-"lfw_identities att_faces yale_faces"}
bin=target/release/facemb
[ -x "$bin" ] || cargo build --release --quiet
mkdir -p "$OUT"
for set in $SETS; do
  "$bin" infer -id "$SHARED/$set" -m "$CKPT" --no-charts --quiet "$@" --out "$OUT/$set" >/dev/null 2>"$OUT/$set.log"
  [ -f "$OUT/$set-pixels/scores.json" ] || "$bin" pixels -id "$SHARED/$set" --no-charts --quiet \
    --out "$OUT/$set-pixels" >/dev/null 2>"$OUT/$set-pixels.log"
done
python3 - "$OUT" $SETS <<'PY'
import json, os, sys
out, sets = sys.argv[1], sys.argv[2:]
print("| folder | vectors | 1-NN | k-means ARI | average linkage ARI (clusters) | chinese whispers ARI (clusters) | DBSCAN ARI | FINCH ARI (clusters) |")
print("|---|---|---|---|---|---|---|---|")
for s in sets:
    for tag, d in [("model", s), ("pixels", f"{s}-pixels")]:
        p = os.path.join(out, d, "scores.json")
        if not os.path.exists(p):
            continue
        j = json.load(open(p))
        m = {x["method"]: x for x in j["methods"]}
        link = m.get("average_linkage")
        link = f"{link['ari']:.3f} ({link['clusters']})" if link else "-"
        finch = m.get("finch")
        finch = f"{finch['ari']:.3f} ({finch['clusters']})" if finch else "-"
        print(f"| {s} | {tag} | {j['one_nn_accuracy']:.3f} | {m['kmeans']['ari']:.3f} | {link} | "
              f"{m['chinese_whispers']['ari']:.3f} ({m['chinese_whispers']['clusters']}) | {m['dbscan']['ari']:.3f} | {finch} |")
PY
