"""The Python peer of `facemb match`'s search: face_recognition's known / unknown example
(a scikit-learn KNeighborsClassifier, n_neighbors 1, its kneighbors distance against a
tolerance), timed on the same vectors and the same split as `facemb bench-cluster`: the
split is facemb's own (`facemb bench-split`, `identify::match_split`), read from its CSV
(file, role, identity) instead of recomputed here.

    $PEERS_VENV/bin/python scripts/peer_match.py results/bench/lfw.npz results/bench/split.csv
(lfw.npz: arrays 'dlib' (N×D vectors), 'labels' and 'files' (each row's file, as index.csv
names it), as scripts/bench.sh writes it; split.csv: `facemb bench-split -id FOLDER` of
the folder those vectors were embedded from)
"""
import csv
import sys
import time

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

d = np.load(sys.argv[1])
x, labels = d["dlib"].astype(np.float32), d["labels"]
row_of = {f: i for i, f in enumerate(d["files"].tolist())}
with open(sys.argv[2], newline="") as f:
    split = list(csv.DictReader(f))
missing = [r["file"] for r in split if r["file"] not in row_of]
if missing:
    sys.exit(f"{sys.argv[2]}: {len(missing)} files of the split have no vector in {sys.argv[1]} (first: {missing[0]}); "
             "make both from the same folder")
known_people = {r["identity"] for r in split if r["role"] == "gallery"}
gallery = [row_of[r["file"]] for r in split if r["role"] == "gallery"]
queries = [row_of[r["file"]] for r in split if r["role"] == "query"]
# A query of a known person carries that person's label; one of an unknown person, -1.
truth = [int(labels[row_of[r["file"]]]) if r["identity"] in known_people else -1 for r in split if r["role"] == "query"]
g, q = x[gallery], x[queries]
known = np.array(truth) >= 0
for algorithm, why in [("ball_tree", "ball tree, as face_recognition's example"), ("brute", "brute force")]:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        knn = KNeighborsClassifier(n_neighbors=1, algorithm=algorithm, weights="distance").fit(g, labels[gallery])
        dist, _ = knn.kneighbors(q, n_neighbors=1)
        pred = knn.predict(q)
        best = min(best, time.perf_counter() - t)
    acc = float(np.mean(pred[known] == np.array(truth)[known]))
    print(f"| match, 1-NN against a gallery | {len(x)} | sklearn KNeighborsClassifier ({why}), best of 3 | {best:.3f} s | "
          f"{len(gallery)} gallery, {len(queries)} queries, known named {acc:.3f} with no tolerance |")
