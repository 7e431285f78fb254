"""The Python peer of `facemb match`'s search: face_recognition's known / unknown example
(a scikit-learn KNeighborsClassifier, n_neighbors 1, its kneighbors distance against a
tolerance), timed on the same vectors and the same split as `facemb bench-cluster`
(src/bench.rs `match_split`): identities in order of first appearance, the first half
known with their last row a query and the rest the gallery, the other half unknown.

    $PEERS_VENV/bin/python scripts/peer_match.py results/bench/lfw.npz
(lfw.npz: arrays 'dlib' (N×D vectors) and 'labels', as scripts/bench.sh writes it)
"""
import sys
import time

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

d = np.load(sys.argv[1])
x, labels = d["dlib"].astype(np.float32), d["labels"]
order = list(dict.fromkeys(labels.tolist()))
rows = {l: np.flatnonzero(labels == l) for l in order}
gallery, queries, truth = [], [], []
for i, l in enumerate(order):
    r = rows[l]
    if i < len(order) // 2:
        if len(r) >= 2:
            gallery.extend(r[:-1])
            queries.append(r[-1])
            truth.append(l)
    else:
        queries.extend(r)
        truth.extend([-1] * len(r))
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
