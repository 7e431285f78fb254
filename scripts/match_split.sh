#!/usr/bin/env bash
# Splits an identity folder for `facemb match` as issue 16 asks: the first half of the
# people (by name) are known — all but their last image go to the gallery, the last one
# is a query — and every image of the other half is a query of an unknown person. The
# split is facemb's own (`facemb bench-split`, the one bench-cluster times match on,
# kept as DEST/split.csv); this script only puts its files in place.
# Files are hard-linked (copied across disks); the source folder is never changed.
#   scripts/match_split.sh ../shared/datasets/lfw_identities /tmp/lfw_split
# leaves /tmp/lfw_split/gallery/<name>/… and /tmp/lfw_split/queries/<name>/…
# (FACEMB names the binary; default: this checkout's target/release/facemb, built when missing)
set -euo pipefail
src=${1:?usage: match_split.sh SOURCE_FOLDER DEST}
dest=${2:?usage: match_split.sh SOURCE_FOLDER DEST}
[ -e "$dest" ] && { echo "error: $dest exists; choose a new folder" >&2; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FACEMB:-$root/target/release/facemb}
[ -x "$bin" ] || (cd "$root" && cargo build --release --quiet)
mkdir -p "$dest"
"$bin" bench-split -id "$src" --out "$dest/split.csv"
python3 - "$dest" <<'PY'
import csv, os, shutil, sys
dest = sys.argv[1]
with open(os.path.join(dest, "split.csv"), newline="") as f:
    for row in csv.DictReader(f):
        to = os.path.join(dest, "gallery" if row["role"] == "gallery" else "queries", row["identity"], os.path.basename(row["file"]))
        os.makedirs(os.path.dirname(to), exist_ok=True)
        try:
            os.link(row["file"], to)
        except OSError:
            shutil.copy(row["file"], to)
PY
echo "gallery: $(ls "$dest/gallery" | wc -l) people, $(find "$dest/gallery" -type f | wc -l) images; queries: $(find "$dest/queries" -type f | wc -l) images ($(ls "$dest/queries" | wc -l) people)"
