#!/usr/bin/env bash
# How a checkpoint holds up on photos from other cameras and croppers: copies of one
# evaluation folder made smaller, blurred, compressed, darkened and framed tighter or
# looser (ImageMagick), each scored at infer's defaults (1-NN, k-means ARI with the true
# k, automatic clustering ARI), as one markdown table.
#   scripts/robustness.sh checkpoints/identity-v6 [out_dir]
# Environment: FOLDER (default ../shared/datasets/lfw_identities); the copies are made
# once under out_dir/copies and reused. Needs ImageMagick 6 (`apt-get install imagemagick`).
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=$1
OUT=${2:-results/robustness/$(basename "$CKPT")}
FOLDER=${FOLDER:-../shared/datasets/lfw_identities}
CONVERT=${CONVERT:-/usr/bin/convert}
"$CONVERT" -version 2>/dev/null | grep -q ImageMagick || { echo "robustness.sh: needs ImageMagick's convert at $CONVERT (apt-get install imagemagick)" >&2; exit 1; }
mkdir -p "$OUT"
bin=target/release/facemb
[ -x "$bin" ] || cargo build --release --quiet
declare -A OPS=(
  [low-res 25%]="-resize 25% -resize 400%"
  [blur 1.5px]="-blur 0x1.5"
  [jpeg q10]="-quality 10"
  [dark gamma 0.5]="-gamma 0.5"
  [tight 80%]="-gravity center -crop 80%x80%+0+0 +repage"
  [loose +12% border]="-bordercolor gray50 -border 12%"
)
VARIANTS=("original" "low-res 25%" "blur 1.5px" "jpeg q10" "dark gamma 0.5" "tight 80%" "loose +12% border")
echo "| copy of $(basename "$FOLDER") | 1-NN | k-means ARI | automatic ARI (clusters) |"
echo "|---|---|---|---|"
for v in "${VARIANTS[@]}"; do
  tag=${v// /_}; tag=${tag//%/}; tag=${tag//+/}
  dir=$FOLDER
  if [ "$v" != original ]; then
    dir=$OUT/copies/$tag
    if [ ! -f "$dir/.done" ]; then
      for person in "$FOLDER"/*/; do
        mkdir -p "$dir/$(basename "$person")"
        for f in "$person"*; do
          case ${f,,} in *.jpg | *.jpeg | *.png) "$CONVERT" "$f" ${OPS[$v]} "$dir/$(basename "$person")/$(basename "${f%.*}").jpg" ;; esac
        done
      done
      touch "$dir/.done"
    fi
  fi
  "$bin" infer -id "$dir" -m "$CKPT" --no-charts --quiet --methods kmeans,linkage --out "$OUT/$tag" >/dev/null 2>"$OUT/$tag.log"
  python3 - "$OUT/$tag/scores.json" "$v" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
m = {x["method"]: x for x in j["methods"]}
a = m["average_linkage"]
print(f"| {sys.argv[2]} | {j['one_nn_accuracy']:.3f} | {m['kmeans']['ari']:.3f} | {a['ari']:.3f} ({a['clusters']}) |")
PY
done
