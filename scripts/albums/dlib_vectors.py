#!/usr/bin/env python3
"""dlib (face_recognition) 128-d vectors of a folder ROOT/<identity>/<image>, cached as .npz.

Run with the peers venv (../shared/peers/README.md; here $HOME/.cache/facemb/peers-venv):

    $PEERS_VENV/bin/python scripts/albums/dlib_vectors.py ROOT OUT.npz [--detector whole|hog]

The shared face sets are already aligned face crops (LFW 112x112, AT&T 92x112, Yale 112x112),
so the default `--detector whole` gives face_recognition the whole image as the known face
location, `known_face_locations=[(0, w, h, 0)]` (top, right, bottom, left); its 5-point
landmark model then aligns the 150x150 chip inside it. `--detector hog` runs
face_recognition's HOG detector (upsample 1) first and falls back to the whole image when it
finds no face; the .npz records which rows fell back (`hog_found`).

The .npz holds: `dlib` (N x 128 float32), `paths` (str, in the sorted order of the walk),
`identity` (str, the folder name), `labels` (int, identity index), `seconds` (wall time of
the encodings), `detector`. One process, one thread (the machine is shared with Rust builds).
"""
import argparse
import os
import sys
import time

import numpy as np

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def walk(root):
    rows = []
    for ident in sorted(os.listdir(root)):
        d = os.path.join(root, ident)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if os.path.splitext(f)[1].lower() in IMAGE_EXT:
                rows.append((os.path.join(d, f), ident))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("out")
    ap.add_argument("--detector", choices=["whole", "hog"], default="whole")
    ap.add_argument("--limit", type=int, default=0, help="only the first N images (a timing / detection-rate probe)")
    a = ap.parse_args()
    import face_recognition

    rows = walk(a.root)
    if a.limit:
        rows = rows[: a.limit]
    vecs, found = [], []
    t0 = time.time()
    for k, (p, _) in enumerate(rows):
        img = face_recognition.load_image_file(p)  # RGB uint8 (grey images are converted)
        h, w = img.shape[:2]
        loc = [(0, w, h, 0)]
        hit = False
        if a.detector == "hog":
            det = face_recognition.face_locations(img, number_of_times_to_upsample=1, model="hog")
            if det:
                # the largest detection
                loc = [max(det, key=lambda r: (r[2] - r[0]) * (r[1] - r[3]))]
                hit = True
        enc = face_recognition.face_encodings(img, known_face_locations=loc, num_jitters=1, model="small")
        vecs.append(enc[0].astype(np.float32))
        found.append(hit)
        if (k + 1) % 500 == 0:
            print(f"{k + 1}/{len(rows)} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    secs = time.time() - t0
    idents = [i for _, i in rows]
    names = sorted(set(idents))
    lab = np.array([names.index(i) for i in idents])
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    np.savez(a.out, dlib=np.stack(vecs), paths=np.array([p for p, _ in rows]), identity=np.array(idents),
             labels=lab, seconds=secs, detector=a.detector, hog_found=np.array(found))
    print(f"{len(rows)} images, {secs:.1f} s ({1000 * secs / max(1, len(rows)):.1f} ms/image), detector {a.detector}"
          + (f", HOG found a face in {np.mean(found):.1%}" if a.detector == "hog" else ""))


if __name__ == "__main__":
    main()
