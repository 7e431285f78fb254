#!/usr/bin/env bash
# The main job on the default data: train the default CNN on datasets/face_nonface,
# embed datasets/att_faces with it and with the ready identity model, and run the pixel
# baseline on the same folder.
# Extra folders to evaluate can be given as arguments, e.g.
#   scripts/demo.sh ../shared/datasets/yale_faces ../shared/datasets/lfw_identities
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
bin=target/release/facemb
$bin train --config configs/default.toml
for folder in datasets/att_faces "$@"; do
  $bin infer -id "$folder" -m checkpoints/default
  # The ready identity model (checkpoints/identity-v6, committed): infer's default.
  $bin infer -id "$folder" --report   # report.html: interactive maps, each face on hover
  $bin pixels -id "$folder"
done
