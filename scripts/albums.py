#!/usr/bin/env python3
"""Small-album benchmark (issue 32): facemb's automatic grouping vs dlib on albums of 2-12 people.

Protocol (fixed seed, so every run and the Rust side later see the same albums):
  * From each evaluation folder ROOT/<identity>/<image> draw albums: 120 from lfw_identities,
    60 each from att_faces and yale_faces. An album has P ~ U{2..12} people, drawn without
    replacement from the folder's identities; each person brings K ~ U{1..min(12, images)} of
    their images, drawn without replacement. The RNG of source s is
    numpy.random.default_rng([SEED, s]) with SEED = 32 and s its position in SOURCES; identities
    and files are taken in sorted order, so the draw depends only on the file names.
  * The draw is written to ALBUMS_CSV (source, album, identity, file relative to the source
    folder), one row per image.
  * facemb, measured for real: each album is copied as symlinks into a fresh folder
    ALBUM/<identity>/<file> and run through
        facemb infer ALBUM --out OUT --no-charts --quiet -m MODEL --methods linkage,cw,finch,dbscan
    `average_linkage` in its clusters.csv is the automatic default (the calibrated cut carried to
    the album by its 10 % pair-distance quantile); the other methods are for the
    "best other facemb method" column. Runs are cached (OUT/clusters.csv is reused).
  * dlib: face_recognition's 128-d vectors of every image (scripts/albums/dlib_vectors.py, cached
    .npz per source), then dlib.chinese_whispers_clustering(vectors, 0.5) per album.
  * Scores per source: mean ARI (sklearn adjusted_rand_score against the identity folders), the
    share of albums with ARI >= 0.9, and the median over albums of clusters / true people.

Usage (run with the peers venv's python so that dlib is importable; dlib is skipped without it):
    $HOME/.cache/facemb/peers-venv/bin/python scripts/albums.py \
        [--bin /tmp/facemb-albums] [--model /work/main/checkpoints/identity-v6] \
        [--cache $HOME/.cache/facemb/albums] [--albums-csv docs/grouping/albums.csv]
Single process; the facemb runs are sequential.
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
from sklearn.metrics import adjusted_rand_score

SEED = 32
DATASETS = "/work/shared/datasets"
SOURCES = [("lfw_identities", 120), ("att_faces", 60), ("yale_faces", 60)]
PEOPLE = (2, 12)
IMAGES = (1, 12)
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
FACEMB_METHODS = ["linkage", "cw", "finch", "dbscan"]
# The issue's reference numbers (issue 32, same protocol, its own draw).
ISSUE = {
    "lfw_identities": {"facemb": (0.406, 0.00, 2.72), "dlib": (0.919, 0.68, 1.25)},
    "att_faces": {"facemb": (0.551, 0.08, 1.94), "dlib": (0.781, 0.37, 1.17)},
    "yale_faces": {"facemb": (0.527, 0.00, 2.24), "dlib": (0.758, 0.17, 1.24)},
}


def folder_listing(root):
    """{identity: [file, ...]} in sorted order, image files only."""
    out = {}
    for ident in sorted(os.listdir(root)):
        d = os.path.join(root, ident)
        if os.path.isdir(d):
            files = sorted(f for f in os.listdir(d) if os.path.splitext(f)[1].lower() in IMAGE_EXT)
            if files:
                out[ident] = files
    return out


def draw_albums(root, n_albums, rng, people=PEOPLE, images=IMAGES):
    """n_albums albums from folder `root`: a list of [(identity, file), ...]."""
    listing = folder_listing(root)
    idents = sorted(listing)
    albums = []
    for _ in range(n_albums):
        p = int(rng.integers(people[0], min(people[1], len(idents)) + 1))
        chosen = rng.choice(len(idents), size=p, replace=False)
        album = []
        for c in sorted(chosen):
            files = listing[idents[c]]
            k = int(rng.integers(images[0], min(images[1], len(files)) + 1))
            for f in sorted(rng.choice(len(files), size=k, replace=False)):
                album.append((idents[c], files[f]))
        albums.append(album)
    return albums


def draw_all(datasets=DATASETS):
    rows = []
    for s, (src, n) in enumerate(SOURCES):
        rng = np.random.default_rng([SEED, s])
        for a, album in enumerate(draw_albums(os.path.join(datasets, src), n, rng)):
            rows += [(src, a, ident, f) for ident, f in album]
    return rows


def write_albums_csv(rows, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["source", "album", "identity", "file"])
        w.writerows(rows)


def read_albums_csv(path):
    """{(source, album): [(identity, file), ...]} in file order."""
    out = defaultdict(list)
    with open(path) as fh:
        for r in csv.DictReader(fh):
            out[(r["source"], int(r["album"]))].append((r["identity"], r["file"]))
    return out


def read_clusters(path):
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    return rows


def run_facemb(binary, model, src, a, album, cache, datasets=DATASETS):
    """Labels per method for the album's images in album order, and the run's wall time."""
    base = os.path.join(cache, "album_runs", f"{src}_{a:03d}")
    inp, out = os.path.join(base, "in"), os.path.join(base, "out")
    done = os.path.join(base, "result.json")
    if os.path.exists(done):
        with open(done) as fh:
            return json.load(fh)
    if os.path.exists(base):
        shutil.rmtree(base)
    for ident, f in album:
        os.makedirs(os.path.join(inp, ident), exist_ok=True)
        os.symlink(os.path.join(datasets, src, ident, f), os.path.join(inp, ident, f))
    t0 = time.time()
    cmd = [binary, "infer", "--input-directory", inp, "--out", out, "--no-charts", "--quiet", "-m", model,
           "--methods", ",".join(FACEMB_METHODS)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    secs = time.time() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr}")
    # index.csv rows -> (identity, file); clusters.csv rows follow index.csv's row numbers.
    with open(os.path.join(out, "index.csv")) as fh:
        index = {int(r["row"]): (r["identity"], os.path.basename(r["path"])) for r in csv.DictReader(fh)}
    clusters = read_clusters(os.path.join(out, "clusters.csv"))
    methods = [k for k in clusters[0] if k not in ("row", "path", "identity")]
    pos = {key: i for i, key in enumerate(album)}
    labels = {m: [None] * len(album) for m in methods}
    for r in clusters:
        i = pos[index[int(r["row"])]]
        for m in methods:
            labels[m][i] = int(r[m])
    assert all(v is not None for m in methods for v in labels[m]), f"{src} {a}: images missing from the run"
    res = {"labels": labels, "seconds": secs, "stdout": p.stdout[-2000:]}
    with open(done, "w") as fh:
        json.dump(res, fh)
    return res


def dlib_labels(vectors, threshold=0.5):
    import dlib
    return list(dlib.chinese_whispers_clustering([dlib.vector(v.tolist()) for v in vectors], threshold))


def summarise(results):
    """results: list of (truth, labels) -> (mean ARI, share >= 0.9, median clusters/person)."""
    aris = [adjusted_rand_score(t, l) for t, l in results]
    cpp = [len(set(l)) / len(set(t)) for t, l in results]
    return float(np.mean(aris)), float(np.mean(np.array(aris) >= 0.9)), float(np.median(cpp))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="/tmp/facemb-albums")
    ap.add_argument("--model", default="/work/main/checkpoints/identity-v6")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/facemb/albums"))
    ap.add_argument("--albums-csv", default=os.path.join(here, "..", "docs", "grouping", "albums.csv"))
    ap.add_argument("--dlib-dir", default=None, help="folder of <source>.npz dlib vectors [CACHE/dlib]")
    ap.add_argument("--json", default=None, help="also write the summary here [CACHE/albums_summary.json]")
    a = ap.parse_args()
    dlib_dir = a.dlib_dir or os.path.join(a.cache, "dlib")

    rows = draw_all()
    write_albums_csv(rows, a.albums_csv)
    albums = read_albums_csv(a.albums_csv)
    print(f"{len(albums)} albums, {len(rows)} images -> {os.path.relpath(a.albums_csv)}", file=sys.stderr)

    try:
        import dlib  # noqa: F401
        have_dlib = True
    except ImportError:
        have_dlib = False
        print("dlib not importable: dlib column skipped", file=sys.stderr)

    summary = {}
    for src, _ in SOURCES:
        keys = sorted(k for k in albums if k[0] == src)
        per_method = defaultdict(list)
        secs = []
        dl = None
        if have_dlib and os.path.exists(os.path.join(dlib_dir, f"{src}.npz")):
            z = np.load(os.path.join(dlib_dir, f"{src}.npz"))
            dl = {(i, os.path.basename(p)): v for i, p, v in zip(z["identity"], z["paths"], z["dlib"])}
        for k in keys:
            album = albums[k]
            truth = [ident for ident, _ in album]
            res = run_facemb(a.bin, a.model, src, k[1], album, a.cache)
            secs.append(res["seconds"])
            for m, lab in res["labels"].items():
                per_method[m].append((truth, lab))
            if dl is not None:
                per_method["dlib_cw_0.5"].append((truth, dlib_labels(np.stack([dl[key] for key in album]))))
        summary[src] = {m: summarise(r) for m, r in per_method.items()}
        summary[src]["_albums"] = len(keys)
        summary[src]["_images"] = sum(len(albums[k]) for k in keys)
        summary[src]["_facemb_seconds_per_album"] = float(np.mean(secs))
        print(f"{src}: done ({np.mean(secs):.2f} s per facemb run)", file=sys.stderr)

    out_json = a.json or os.path.join(a.cache, "albums_summary.json")
    with open(out_json, "w") as fh:
        json.dump(summary, fh, indent=1)

    fmt = lambda t: f"{t[0]:.3f}, {100 * t[1]:.0f} %, {t[2]:.2f}"
    print("| albums from | facemb default (average_linkage) | issue 32: facemb | chinese_whispers | finch | dbscan | dlib CW 0.5 | issue 32: dlib |")
    print("|---|---|---|---|---|---|---|---|")
    for src, _ in SOURCES:
        s = summary[src]
        cell = lambda m: fmt(s[m]) if m in s else "n/a"
        print(f"| {src} ({s['_albums']} albums, {s['_images']} images) | {cell('average_linkage')} | {fmt(ISSUE[src]['facemb'])} "
              f"| {cell('chinese_whispers')} | {cell('finch')} | {cell('dbscan')} | {cell('dlib_cw_0.5')} | {fmt(ISSUE[src]['dlib'])} |")
    print("(cells: mean ARI, share of albums with ARI >= 0.9, median clusters per person)")


if __name__ == "__main__":
    main()
