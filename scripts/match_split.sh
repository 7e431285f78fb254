#!/usr/bin/env bash
# Splits an identity folder for `facemb match` as issue 16 asks: the first half of the
# people (by name) are known — all but their last image go to the gallery, the last one
# is a query — and every image of the other half is a query of an unknown person.
# Files are hard-linked (copied across disks); the source folder is never changed.
#   scripts/match_split.sh ../shared/datasets/lfw_identities /tmp/lfw_split
# leaves /tmp/lfw_split/gallery/<name>/… and /tmp/lfw_split/queries/<name>/…
set -euo pipefail
src=${1:?usage: match_split.sh SOURCE_FOLDER DEST}
dest=${2:?usage: match_split.sh SOURCE_FOLDER DEST}
[ -e "$dest" ] && { echo "error: $dest exists; choose a new folder" >&2; exit 1; }
mapfile -t people < <(find "$src" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | LC_ALL=C sort)
half=$(( ${#people[@]} / 2 ))
put() { mkdir -p "$(dirname "$2")"; ln "$1" "$2" 2>/dev/null || cp "$1" "$2"; }
for i in "${!people[@]}"; do
  p=${people[$i]}
  mapfile -t files < <(find "$src/$p" -maxdepth 1 -type f -printf '%f\n' | LC_ALL=C sort)
  if (( i < half && ${#files[@]} >= 2 )); then
    last=$(( ${#files[@]} - 1 ))
    for f in "${files[@]:0:$last}"; do put "$src/$p/$f" "$dest/gallery/$p/$f"; done
    put "$src/$p/${files[$last]}" "$dest/queries/$p/${files[$last]}"
  elif (( i >= half )); then
    for f in "${files[@]}"; do put "$src/$p/$f" "$dest/queries/$p/$f"; done
  fi
done
echo "gallery: $(ls "$dest/gallery" | wc -l) people, $(find "$dest/gallery" -type f | wc -l) images; queries: $(find "$dest/queries" -type f | wc -l) images ($(ls "$dest/queries" | wc -l) people)"
