#!/usr/bin/env python3
"""dlib's HOG face detector (face_recognition's, upsample 1) on `facemb bench-detect`'s test
pictures, its boxes written as facemb framing boxes in the same CSV as facemb's detections, so
`facemb bench-detect --peer` scores both with one implementation.

Run with the peers venv (../shared/peers/README.md; here $HOME/.cache/facemb/peers-venv):

    $PEERS_VENV/bin/python scripts/peers/detect_dlib.py BENCH_DIR POOL_FOLDER

dlib's box is a tight square on the eyes-to-mouth area; facemb's is the training pools' LFW
framing (head and a little shoulder). The conversion (side ratio and centre offset) is measured
here, on POOL_FOLDER (a training pool of 112 px framing crops: the whole crop is the framing
box), as the median over the crops where dlib finds exactly one face. Writes
BENCH_DIR/dlib_all.csv (threshold -1, for average precision) and BENCH_DIR/dlib.csv (dlib's
default threshold 0), and prints photos/s at 150x150, 640x480 and 4000x3000.
"""
import csv
import os
import sys
import time

import dlib
import numpy as np
from PIL import Image


def framing_of_dlib(detector, pool, limit=400):
    ratios, dxs, dys = [], [], []
    files = []
    for person in sorted(os.listdir(pool)):
        d = os.path.join(pool, person)
        if os.path.isdir(d):
            files += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.lower().endswith((".jpg", ".png"))]
    for path in files[:: max(1, len(files) // limit)]:
        img = np.asarray(Image.open(path).convert("RGB"))
        found = detector(img, 1)
        if len(found) != 1:
            continue
        r = found[0]
        side = 0.5 * (r.width() + r.height())
        cx, cy = 0.5 * (r.left() + r.right()), 0.5 * (r.top() + r.bottom())
        h, w = img.shape[:2]
        ratios.append(w / side)
        dxs.append((w / 2 - cx) / side)
        dys.append((h / 2 - cy) / side)
    return float(np.median(ratios)), float(np.median(dxs)), float(np.median(dys)), len(ratios), len(files[:: max(1, len(files) // limit)])


def main():
    bench, pool = sys.argv[1], sys.argv[2]
    detector = dlib.get_frontal_face_detector()
    k, dx, dy, n, tried = framing_of_dlib(detector, pool)
    print(f"dlib box -> framing: side x {k:.3f}, centre + ({dx:.3f}, {dy:.3f}) sides (from {n} of {tried} pool crops)")
    pics = sorted(os.listdir(os.path.join(bench, "pictures")))
    rows = []
    t = time.time()
    for name in pics:
        img = np.asarray(Image.open(os.path.join(bench, "pictures", name)).convert("RGB"))
        boxes, scores, _ = detector.run(img, 1, -1.0)
        for r, s in zip(boxes, scores):
            side = 0.5 * (r.width() + r.height())
            cx, cy = 0.5 * (r.left() + r.right()) + dx * side, 0.5 * (r.top() + r.bottom()) + dy * side
            rows.append((name, cx, cy, side * k, 0.0, s))
    per = (time.time() - t) / max(1, len(pics))
    for fname, keep in (("dlib_all.csv", -1.0), ("dlib.csv", 0.0)):
        with open(os.path.join(bench, fname), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["picture", "centre_x", "centre_y", "size", "angle_degrees", "score"])
            for r in rows:
                if r[5] >= keep:
                    w.writerow([r[0], f"{r[1]:.2f}", f"{r[2]:.2f}", f"{r[3]:.2f}", "0", f"{r[5]:.4f}"])
    print(f"dlib HOG on {len(pics)} test pictures: {per * 1000:.0f} ms each")
    rng = np.random.default_rng(7)
    for w_, h_ in ((150, 150), (640, 480), (4000, 3000)):
        img = (rng.random((h_, w_, 3)) * 255).astype(np.uint8)
        reps = 20 if w_ < 1000 else 2
        detector(img, 1)
        t = time.time()
        for _ in range(reps):
            detector(img, 1)
        print(f"dlib HOG {w_}x{h_}: {reps / (time.time() - t):.2f} photos/s")


if __name__ == "__main__":
    main()
