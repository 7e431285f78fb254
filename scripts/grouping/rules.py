#!/usr/bin/env python3
"""Research prototype (issue 32): one automatic grouping rule for albums of 2 people to big folders.

Not product code: numpy + scikit-learn on cached vectors, to pick a rule and its parameters.

Data (made once by `facemb infer ... --no-charts --quiet -m checkpoints/identity-v6`, see
docs/grouping/README.md): VEC/<name>/embeddings.npy + index.csv for
  * heldout         the ready model's 200 held-out training people (metrics.json `held_out`),
                    the ONLY data any parameter is chosen on;
  * lfw_identities, att_faces, yale_faces   evaluation only.
Vectors are L2-normalised (facemb clusters normalised vectors of identity checkpoints).

Protocol
  1. Calibration albums (seed 7): CAL_ALBUMS albums from the held-out people, P people with
     log P ~ U(log 2, log 200) (the held-out set has 200 people, so 200 is the top, not 300),
     each person K ~ U{1..min(12, images)} images. Every other album takes every image
     of each chosen person (up to 20), so big-folder-like person sizes are represented.
  2. Each rule is a family with a parameter grid; the parameter with the best mean ARI over the
     calibration albums is kept (ties: the first in grid order).
  3. The chosen rule is then run, unchanged, on the evaluation albums of docs/grouping/albums.csv
     (scripts/albums.py's draw) and on the three big evaluation folders.
Outputs a markdown table on stdout and RESULTS (json) with every rule, the chosen parameters and
the calibration curves. Single process.

Usage: python3 scripts/grouping/rules.py [--vec DIR] [--albums-csv CSV] [--out JSON] [--only NAME,...]
"""
import argparse
import csv
import heapq
import json
import math
import os
import sys
import time
from collections import defaultdict

import numpy as np
from sklearn.metrics import adjusted_rand_score

CACHE = os.path.expanduser("~/.cache/facemb/albums")
EVAL = ["lfw_identities", "att_faces", "yale_faces"]
CAL_SEED = 7
CAL_ALBUMS = 120
HELD_OUT_SCALE_Q10 = 1.2061815  # calibration.json pair_quantiles[3] (10 %), identity-v6
CALIBRATED_LINK = 1.1  # calibration.json linkage_threshold


# ---------------------------------------------------------------- data
def load(vec, name):
    x = np.load(os.path.join(vec, name, "embeddings.npy")).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    with open(os.path.join(vec, name, "index.csv")) as fh:
        rows = list(csv.DictReader(fh))
    ident = [r["identity"] for r in rows]
    files = [os.path.basename(r["path"]) for r in rows]
    return x, ident, files


def cal_albums(ident, seed=CAL_SEED, n=CAL_ALBUMS):
    rng = np.random.default_rng(seed)
    by = defaultdict(list)
    for i, p in enumerate(ident):
        by[p].append(i)
    people = sorted(by)
    out = []
    for a in range(n):
        P = int(round(math.exp(rng.uniform(math.log(2), math.log(len(people))))))
        P = max(2, min(P, len(people)))
        chosen = rng.choice(len(people), P, replace=False)
        rows = []
        for c in sorted(chosen):
            idx = by[people[c]]
            k = min(len(idx), 20) if (a % 2 == 1) else int(rng.integers(1, min(12, len(idx)) + 1))
            rows += sorted(rng.choice(idx, k, replace=False).tolist())
        out.append(np.array(rows))
    return out


def eval_albums(path, files_by_src):
    albums = defaultdict(list)
    with open(path) as fh:
        for r in csv.DictReader(fh):
            albums[(r["source"], int(r["album"]))].append((r["identity"], r["file"]))
    out = defaultdict(list)
    for (src, a), members in sorted(albums.items()):
        pos = files_by_src[src]
        out[src].append(np.array([pos[m] for m in members]))
    return out


# ---------------------------------------------------------------- primitives
def pdist(x):
    g = x @ x.T
    d2 = np.clip(2.0 - 2.0 * g, 0.0, None)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)


def knn(x, k):
    """Exact k nearest other rows (indices, distances), ascending: the prototype's stand-in for
    the blocked-GEMM / HNSW k-NN of the product."""
    n = len(x)
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n, 0), int), np.zeros((n, 0))
    idx = np.empty((n, k), int)
    dist = np.empty((n, k))
    for s in range(0, n, 2048):
        d = np.sqrt(np.clip(2.0 - 2.0 * (x[s:s + 2048] @ x.T), 0.0, None))
        for r in range(d.shape[0]):
            d[r, s + r] = np.inf
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < n - 1 else np.argsort(d, axis=1)[:, :k]
        pd = np.take_along_axis(d, part, 1)
        o = np.argsort(pd, axis=1, kind="stable")
        idx[s:s + 2048] = np.take_along_axis(part, o, 1)
        dist[s:s + 2048] = np.take_along_axis(pd, o, 1)
    return idx, dist


def edges_of(idx, dist):
    """Undirected k-NN graph (either endpoint lists the other): {(i, j): d} with i < j."""
    e = {}
    n = idx.shape[0]
    for i in range(n):
        for j, d in zip(idx[i], dist[i]):
            a, b = (i, int(j)) if i < j else (int(j), i)
            e[(a, b)] = d
    return e


def components(n, pairs):
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [root(i) for i in range(n)]


def chinese_whispers(n, pairs, seed=0, passes=100, weights=None):
    adj = [[] for _ in range(n)]
    for t, (a, b) in enumerate(pairs):
        w = 1.0 if weights is None else weights[t]
        adj[a].append((b, w))
        adj[b].append((a, w))
    label = list(range(n))
    rng = np.random.default_rng(seed)
    order = np.arange(n)
    for _ in range(passes):
        rng.shuffle(order)
        changed = False
        for i in order:
            if not adj[i]:
                continue
            votes = defaultdict(float)
            for j, w in adj[i]:
                votes[label[j]] += w
            top = max(votes.values())
            best = label[i] if votes.get(label[i], -1) == top else min(l for l, v in votes.items() if v == top)
            if best != label[i]:
                label[i] = best
                changed = True
        if not changed:
            break
    return label


def graph_average_linkage(n, edges, threshold, fill):
    return cut_merges(n, graph_average_linkage_merges(n, edges, fill), threshold)


def cut_merges(n, merges, threshold):
    """Labels after every merge (a, b, d) with d < threshold (a, b: representative rows)."""
    return components(n, [(a, b) for a, b, d in merges if d < threshold])


def graph_average_linkage_merges(n, edges, fill):
    """Average linkage on the k-NN graph: the distance of two clusters is the mean over all their
    cross pairs, where a pair that is not a graph edge counts as `fill` (exact average linkage on
    the matrix whose non-edge entries are replaced by `fill`; equal to full average linkage when
    every pair closer than `fill` is an edge). Merges the closest pair while it is < threshold.
    Heap with lazy deletion: O(E log E) merges, memory O(E)."""
    nb = [dict() for _ in range(n)]  # cluster -> {other: (sum of edge distances, edge count)}
    for (a, b), d in edges.items():
        nb[a][b] = (d, 1)
        nb[b][a] = (d, 1)
    size = [1] * n
    alive = [True] * n
    ver = [0] * n
    parent = list(range(n))

    def avg(a, b):
        s, c = nb[a][b]
        return (s + fill * (size[a] * size[b] - c)) / (size[a] * size[b])

    merges = []
    heap = [(avg(a, b), a, b, 0, 0) for (a, b) in edges]
    heapq.heapify(heap)
    while heap:
        d, a, b, va, vb = heapq.heappop(heap)
        if d >= fill:
            break
        if not (alive[a] and alive[b]) or ver[a] != va or ver[b] != vb:
            continue
        if size[a] < size[b]:
            a, b = b, a
        # merge b into a
        for x, (s, c) in nb[b].items():
            if x == a:
                continue
            s0, c0 = nb[a].get(x, (0.0, 0))
            nb[a][x] = (s0 + s, c0 + c)
            del nb[x][b]
            nb[x][a] = nb[a][x]
        del nb[a][b]
        merges.append((a, b, d))
        nb[b] = {}
        alive[b] = False
        parent[b] = a
        size[a] += size[b]
        ver[a] += 1
        for x in nb[a]:
            heapq.heappush(heap, (avg(a, x), min(a, x), max(a, x), ver[min(a, x)], ver[max(a, x)]))
    return merges


def full_average_linkage_merges(x, condensed=None):
    """Average-linkage merges of the full distance matrix (scipy), as (row a, row b, d)."""
    from scipy.cluster.hierarchy import linkage
    n = len(x)
    if n < 2:
        return []
    Z = linkage(pdist(x)[np.triu_indices(n, 1)] if condensed is None else condensed, method="average")
    rep = list(range(n))
    out = []
    for a, b, d, _ in Z:
        ra, rb = rep[int(a)], rep[int(b)]
        out.append((ra, rb, float(d)))
        rep.append(ra)
    return out


def full_average_linkage(x, threshold, ctx=None):
    if ctx is None:
        return cut_merges(len(x), full_average_linkage_merges(x), threshold)
    return cut_merges(len(x), ctx.cached("full_al", lambda: full_average_linkage_merges(x, ctx.condensed())), threshold)


def pair_quantile(x, q, max_pairs=200_000, seed=0):
    n = len(x)
    if n < 2:
        return 0.0
    if n * (n - 1) // 2 <= max_pairs:
        d = pdist(x)[np.triu_indices(n, 1)]
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, n, max_pairs)
        j = rng.integers(0, n - 1, max_pairs)
        j = j + (j >= i)
        d = np.sqrt(np.clip(2.0 - 2.0 * np.einsum("ij,ij->i", x[i], x[j]), 0.0, None))
    # facemb's pair_distance_quantile: the element at floor(len * q) of the sorted distances
    # (no interpolation), so the simulated default matches the binary's cut
    at = min(int(len(d) * q), len(d) - 1)
    return float(np.partition(d, at)[at])


# ---------------------------------------------------------------- rules
# Each rule: fn(x, param, ctx) -> labels; grids are what calibration scans. ctx carries the k-NN
# graph cache and the held-out statistics a rule may read.
class Ctx:
    def __init__(self, x):
        self.x = x
        self._knn = {}

    def knn(self, k):
        k = min(k, len(self.x) - 1)
        if k not in self._knn:
            self._knn[k] = knn(self.x, k)
        return self._knn[k]

    def condensed(self):
        """All pair distances (i < j), computed once per album."""
        if "condensed" not in self._knn:
            n = len(self.x)
            self._knn["condensed"] = pdist(self.x)[np.triu_indices(n, 1)]
        return self._knn["condensed"]

    def quantile(self, q):
        """facemb's pair_distance_quantile: exact below 200 000 pairs, else 200 000 drawn pairs."""
        n = len(self.x)
        if n * (n - 1) // 2 <= 200_000 and n >= 2:
            d = self.condensed()
            at = min(int(len(d) * q), len(d) - 1)
            return float(np.partition(d, at)[at])
        return self.cached(("q", q), lambda: pair_quantile(self.x, q))

    def cached(self, key, make):
        if key not in self._knn:
            self._knn[key] = make()
        return self._knn[key]

    def edges(self, k):
        key = ("e", k)
        if key not in self._knn:
            self._knn[key] = edges_of(*self.knn(k))
        return self._knn[key]


GRID_CUT = [round(0.80 + 0.02 * i, 2) for i in range(26)]  # 0.80 .. 1.30


def r_current(x, _p, ctx):
    """Today's default: average linkage at 1.1 x folder q10 / held-out q10."""
    s = ctx.quantile(0.1)
    t = CALIBRATED_LINK * s / HELD_OUT_SCALE_Q10 if s > 0 else CALIBRATED_LINK
    return full_average_linkage(x, t, ctx)


def r_al_fixed(x, t, ctx):
    return full_average_linkage(x, t, ctx)


def make_al_scaled(q, ref):
    def r(x, share, ctx):
        s = ctx.quantile(q)
        return full_average_linkage(x, share * (s / ref if s > 0 else 1.0), ctx)
    return r


def make_knn_cc(k):
    def r(x, t, ctx):
        e = ctx.edges(k)
        return components(len(x), [p for p, d in e.items() if d < t])
    return r


def make_knn_cw(k):
    def r(x, t, ctx):
        e = ctx.edges(k)
        return chinese_whispers(len(x), [p for p, d in e.items() if d < t])
    return r


def make_knn_gal(k, fill):
    def r(x, t, ctx):
        m = ctx.cached(("gal", k, fill), lambda: graph_average_linkage_merges(len(x), ctx.edges(k), fill))
        return cut_merges(len(x), m, t)
    return r


def make_rank_order(k):
    """Approximate rank-order distance (Otto, Wang & Jain 2018) on k-NN lists L_i = [i] + the k
    nearest of i: for b in L_a at position O_a(b), D(a,b) = the number of L_a[0..O_a(b)] absent from
    L_b; D_R(a,b) = (D(a,b) + D(b,a)) / min(O_a(b), O_b(a)) (O_b(a) = k + 1 when a is not in L_b);
    pairs with D_R < t are joined (connected components)."""
    def r(x, t, ctx):
        idx, _ = ctx.knn(k)
        n = len(x)
        L = [[i] + [int(j) for j in idx[i]] for i in range(n)]
        pos = [{j: r for r, j in enumerate(l)} for l in L]
        pairs = []
        for a in range(n):
            for oab in range(1, len(L[a])):
                b = L[a][oab]
                oba = pos[b].get(a, len(L[b]))
                dab = sum(f not in pos[b] for f in L[a][:oab + 1])
                dba = sum(f not in pos[a] for f in L[b][:oba + 1])
                if (dab + dba) / min(oab, oba) < t:
                    pairs.append((a, b))
        return components(n, pairs)
    return r


# ---- cohort (background) normalisation: a fixed set of faces of other people, shipped with the
# checkpoint, gives every face a reference of how close strangers come to it, whatever the
# folder's size (the AS-norm / cohort idea of speaker verification).
COHORT = {}  # "x": cohort vectors, "k": how many nearest cohort faces


def cohort_mean(x, k):
    c = COHORT["x"]
    d = np.sqrt(np.clip(2.0 - 2.0 * (x @ c.T), 0.0, None))
    return np.sort(np.partition(d, k - 1, axis=1)[:, :k], axis=1).mean(axis=1)


def make_cohort_gal(k, fill, beta, kc):
    """Graph average linkage on d'(i,j) = d(i,j) - beta * ((c_i + c_j) / 2 - c_ref), c_i the mean
    distance of i to its kc nearest cohort faces and c_ref its held-out mean."""
    def r(x, t, ctx):
        def build():
            c = cohort_mean(x, kc)
            e = ctx.edges(k)
            return graph_average_linkage_merges(len(x), {p: d - beta * ((c[p[0]] + c[p[1]]) / 2 - COHORT["ref"]) for p, d in e.items()}, fill)
        return cut_merges(len(x), ctx.cached(("cgal", k, beta, kc), build), t)
    return r


# ---- size-aware cut: on held-out albums the best average-linkage cut falls as the folder grows
# (1.22-1.24 at 2-8 people, 1.12 at 100-200 people; docs/grouping/README.md), because the
# prior share of same-person pairs falls. So the cut is t(N) = (a - b log10 N) x scale, N the
# number of faces, scale = folder's q-quantile of pair distances / the held-out one (q90: the
# quantile that stays an impostor distance from 2 people up, 1.42-1.47 on held-out albums of
# every size; q10 is a same-person distance in small albums).
GRID_AB = [(round(1.16 + 0.02 * i, 2), b) for i in range(12) for b in (0.0, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08)]
REF_Q = {}


GAMMA = {"g": 1.0}  # exponent of the scale; 2 only in the diagnostic row (see README)


def size_cut(x, ab, ctx, q):
    a, b = ab
    s = ctx.quantile(q)
    return (a - b * math.log10(max(len(x), 2))) * ((s / REF_Q[q]) ** GAMMA["g"] if s > 0 else 1.0)


def make_al_size(q):
    def r(x, ab, ctx):
        return full_average_linkage(x, size_cut(x, ab, ctx, q), ctx)
    return r


def make_gal_size(k, q, fill):
    """kNN-graph average linkage at the size-aware, scaled cut; non-edges count as fill x scale."""
    def r(x, ab, ctx):
        s = ctx.quantile(q)
        scale = (s / REF_Q[q]) ** GAMMA["g"] if s > 0 else 1.0
        m = ctx.cached(("gal_s", k), lambda: graph_average_linkage_merges(len(x), ctx.edges(k), fill * scale))
        return cut_merges(len(x), m, size_cut(x, ab, ctx, q))
    return r


RULES = {
    # name: (fn, grid or None=fixed, description)
    "current (AL, cut 1.1 x q10 scale)": (r_current, [None], "today's default, simulated"),
    "AL unscaled cut 1.1": (r_al_fixed, [1.1], "average linkage at the calibrated cut, not scaled"),
    "AL fixed cut (held-out albums)": (r_al_fixed, GRID_CUT, "average linkage, one cut chosen on held-out albums"),
}


def add_rules():
    for q, ref in [(0.5, None), (0.9, None)]:
        RULES[f"AL cut x q{int(q * 100)} scale"] = (make_al_scaled(q, ref), "scaled", f"average linkage, cut x folder q{int(q*100)} / held-out q{int(q*100)}")
    for k in (10, 20, 30):
        RULES[f"kNN{k} threshold + components"] = (make_knn_cc(k), GRID_CUT, "")
        RULES[f"kNN{k} threshold + CW"] = (make_knn_cw(k), GRID_CUT, "")
        RULES[f"kNN{k} graph average linkage"] = (make_knn_gal(k, None), GRID_CUT, "fill = held-out impostor median")
    RULES["AL cut (a - b log10 N) x q90 scale"] = ("al_size", GRID_AB, "")
    RULES["AL cut (a - b log10 N) x q50 scale"] = ("al_size", GRID_AB, "")
    RULES["kNN20 graph AL, cut (a - b log10 N) x q90 scale"] = ("gal_size", GRID_AB, "")
    RULES["kNN10 graph AL, cut (a - b log10 N) x q90 scale"] = ("gal_size", GRID_AB, "")
    RULES["DIAGNOSTIC kNN20 graph AL, cut (a - b log10 N) x q90 scale^2"] = ("gal_size", GRID_AB, "gamma 2 read off att/yale: not a held-out choice")
    RULES["cohort-normalised kNN20 graph average linkage"] = (None, GRID_CUT, "d - beta (mean cohort distance - ref), cohort = held-out half B")
    RULES["rank-order kNN20"] = (make_rank_order(20), [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0], "")


# ---------------------------------------------------------------- driver
def score_grid(x, ident, albums, fn, grid):
    """[(mean ARI, share >= 0.9, median clusters/person, seconds)] per grid value; one Ctx per
    album so that k-NN graphs and dendrograms are built once and cut at every grid value."""
    aris = [[] for _ in grid]
    cpp = [[] for _ in grid]
    secs = [0.0 for _ in grid]
    for rows in albums:
        xa = x[rows]
        truth = [ident[i] for i in rows]
        ctx = Ctx(xa)
        for g, p in enumerate(grid):
            t0 = time.time()
            lab = fn(xa, p, ctx)
            secs[g] += time.time() - t0
            aris[g].append(adjusted_rand_score(truth, lab))
            cpp[g].append(len(set(lab)) / len(set(truth)))
    return [(float(np.mean(a)), float(np.mean(np.array(a) >= 0.9)), float(np.median(c)), sc) for a, c, sc in zip(aris, cpp, secs)]


def score(x, ident, albums, fn, p):
    return score_grid(x, ident, albums, fn, [p])[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vec", default=os.path.join(CACHE, "vec"))
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--albums-csv", default=os.path.join(here, "..", "..", "docs", "grouping", "albums.csv"))
    ap.add_argument("--out", default=os.path.join(CACHE, "rules.json"))
    ap.add_argument("--only", default="")
    ap.add_argument("--no-big", action="store_true")
    a = ap.parse_args()
    add_rules()

    hx, hid, _ = load(a.vec, "heldout")
    cal = cal_albums(hid)
    # held-out statistics a rule may use
    hd = pdist(hx)
    same = np.equal.outer(np.array(hid), np.array(hid))
    iu = np.triu_indices(len(hx), 1)
    imp_median = float(np.median(hd[iu][~same[iu]]))
    ref_q = {q: float(np.quantile(hd[iu], q)) for q in (0.1, 0.5, 0.9)}
    del hd, same
    print(f"held-out: {len(hx)} images, {len(set(hid))} people; impostor median {imp_median:.4f}; "
          f"pair quantiles {ref_q}; {len(cal)} calibration albums, sizes "
          f"{min(len(c) for c in cal)}-{max(len(c) for c in cal)} images", file=sys.stderr)

    data = {s: load(a.vec, s) for s in EVAL}
    files_by_src = {s: {(i, f): r for r, (i, f) in enumerate(zip(d[1], d[2]))} for s, d in data.items()}
    ev = eval_albums(a.albums_csv, files_by_src)

    # Cohort rules: the held-out people are split by sorted name into A (even positions) and B
    # (odd); B's vectors are the cohort, calibration albums come from A only, beta is the
    # logistic-regression ratio of the cohort term to the distance on A's pairs.
    people = sorted(set(hid))
    half_a = {p for i, p in enumerate(people) if i % 2 == 0}
    rows_a = np.array([i for i, p in enumerate(hid) if p in half_a])
    rows_b = np.array([i for i, p in enumerate(hid) if p not in half_a])
    COHORT["x"] = hx[rows_b]
    KC = 10
    xa_, ida_ = hx[rows_a], [hid[i] for i in rows_a]
    ca = cohort_mean(xa_, KC)
    COHORT["ref"] = float(ca.mean())
    iu_a = np.triu_indices(len(xa_), 1)
    da = pdist(xa_)[iu_a]
    ma = ((ca[:, None] + ca[None, :]) / 2)[iu_a]
    ya = np.equal.outer(np.array(ida_), np.array(ida_))[iu_a]
    from sklearn.linear_model import LogisticRegression
    lr = LogisticRegression(class_weight="balanced").fit(np.c_[da, ma - COHORT["ref"]], ya)
    w = lr.coef_[0]
    BETA = float(-w[1] / w[0])
    cal_a = [rows_a[c] for c in cal_albums(ida_)]
    ida_full = hid
    print(f"cohort: {len(rows_b)} faces of {len(people) - len(half_a)} people, k {KC}, ref {COHORT['ref']:.4f}, "
          f"logistic w {w}, beta {BETA:.3f}; {len(cal_a)} calibration albums from half A", file=sys.stderr)
    for s_ in EVAL:
        c_ = cohort_mean(data[s_][0], KC)
        print(f"  {s_}: mean cohort distance {c_.mean():.4f} (sd {c_.std():.4f})", file=sys.stderr)
    del da, ma, ya

    results = {}
    only = [o for o in a.only.split(",") if o]
    for name, (fn, grid, desc) in RULES.items():
        if only and not any(o in name for o in only):
            continue
        if grid == "scaled":
            q = float(name.split(" q")[1].split(" ")[0]) / 100
            fn = make_al_scaled(q, ref_q[q])
            grid = GRID_CUT
        if name.startswith("kNN") and name.endswith("graph average linkage"):
            k = int(name[3:5])
            fn = make_knn_gal(k, imp_median)
        cal_rows = cal
        if fn in ("al_size", "gal_size"):
            q = float(name.split(" x q")[1].split(" ")[0]) / 100
            REF_Q[q] = ref_q[q]
            GAMMA["g"] = 2.0 if name.endswith("^2") else 1.0
            kk = int(name.split("kNN")[1][:2]) if "kNN" in name else 0
            fn = make_al_size(q) if fn == "al_size" else make_gal_size(kk, q, imp_median)
        if name.startswith("cohort"):
            fn = make_cohort_gal(20, imp_median, BETA, KC)
            cal_rows = cal_a
        t0 = time.time()
        curve = [(p, *r) for p, r in zip(grid, score_grid(hx, hid, cal_rows, fn, grid))]
        best = max(curve, key=lambda c: c[1])
        p = best[0]
        res = {"param": p, "cal": best[1:4], "curve": curve, "desc": desc}
        if name.startswith("cohort"):
            res["beta"], res["kc"], res["ref"] = BETA, KC, COHORT["ref"]
        for s in EVAL:
            x, ident, _ = data[s]
            res[s] = score(x, ident, ev[s], fn, p)[:3]
        if not a.no_big:
            for s in EVAL:
                x, ident, _ = data[s]
                t1 = time.time()
                lab = fn(x, p, Ctx(x))
                res["big_" + s] = (adjusted_rand_score(ident, lab), len(set(lab)), time.time() - t1)
        res["seconds"] = time.time() - t0
        results[name] = res
        print(f"{name}: param {p} cal {best[1]:.3f} | " + " | ".join(
            f"{s[:4]} {res[s][0]:.3f} {res[s][2]:.2f}" for s in EVAL) + " | big " + " ".join(
            f"{res.get('big_' + s, (float('nan'),))[0]:.3f}" for s in EVAL) + f"  ({res['seconds']:.0f}s)", file=sys.stderr, flush=True)
        with open(a.out, "w") as fh:
            json.dump(results, fh, indent=1)

    print("| rule | param (held-out) | held-out albums ARI | lfw albums ARI, ≥0.9, cl/person | att albums | yale albums | big lfw / att / yale ARI |")
    print("|---|---|---|---|---|---|---|")
    f = lambda t: f"{t[0]:.3f}, {100 * t[1]:.0f} %, {t[2]:.2f}"
    for name, r in results.items():
        big = " / ".join(f"{r['big_' + s][0]:.3f}" for s in EVAL) if "big_lfw_identities" in r else "n/a"
        print(f"| {name} | {r['param']} | {r['cal'][0]:.3f} | {f(r['lfw_identities'])} | {f(r['att_faces'])} | {f(r['yale_faces'])} | {big} |")


if __name__ == "__main__":
    main()
