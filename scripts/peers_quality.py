#!/usr/bin/env python3
"""Layout quality of the peers, for scripts/bench.sh: sklearn t-SNE and umap-learn with the
parameters ../shared/peers/speed.py times, scored by sklearn's trustworthiness (k = 10) on
the same data (blobs from make_blobs, seed 0; the real vectors from --real FILE.npz).
Prints a markdown table: data | N | method | trustworthiness | warm seconds, the last being
the wall time of a second, identical call in the same process: umap-learn compiles with
numba on first use (pynndescent's path above 4 096 points too), which speed.py's 300-point
warm-up does not cover, so its 5 000-point time is mostly compilation."""
import argparse
import time

import numpy as np
from sklearn.datasets import make_blobs
from sklearn.manifold import TSNE, trustworthiness


def layouts(X):
    """(method, layout, warm seconds or None) with speed.py's parameters."""
    yield "sklearn TSNE (BH)", TSNE(perplexity=30, max_iter=1000, method="barnes_hut", init="pca",
                                    n_jobs=2, random_state=0).fit_transform(X), None
    import umap
    fit = lambda: umap.UMAP(n_neighbors=15, n_components=2).fit_transform(X)
    Y = fit()
    t = time.perf_counter()
    fit()
    yield "UMAP (umap-learn)", Y, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", default="1000,5000")
    ap.add_argument("--real")
    a = ap.parse_args()
    sets = []
    for n in (int(v) for v in a.n.split(",")):
        X, _ = make_blobs(n_samples=n, n_features=128, centers=10, cluster_std=1.0, random_state=0)
        sets.append(("blobs", X.astype(np.float32)))
    if a.real:
        sets.append(("real", np.load(a.real)["dlib"].astype(np.float32)))
    print("| data | N | method | trustworthiness | warm seconds |")
    print("|---|---|---|---|---|")
    for name, X in sets:
        for method, Y, warm in layouts(X):
            w = f"{warm:.2f}" if warm is not None else ""
            print(f"| {name} | {len(X)} | {method} | {trustworthiness(X, Y, n_neighbors=10):.4f} | {w} |", flush=True)


if __name__ == "__main__":
    main()
