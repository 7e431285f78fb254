#!/usr/bin/env python3
"""Merges the raw outputs of scripts/bench.sh (a folder) into one markdown table with the
peers beside facemb and a ratio column: facemb ÷ peer for throughput, peer ÷ facemb for
times, so > 1 always means facemb is faster. Standard library only."""
import re
import sys
from pathlib import Path

PEER_OF = {  # facemb method -> speed.py method
    "t-SNE": "sklearn TSNE (BH)",
    "UMAP": "UMAP (umap-learn)",
    "DBSCAN": "sklearn DBSCAN",
    "k-means": "sklearn KMeans",
    "k-means, 1 run": "sklearn KMeans",
    "chinese whispers": "dlib chinese_whispers",
}
# dlib is not in the peers' venv (it builds from source); its figure from
# ../shared/peers/README.md, measured on a machine of this kind, stands in, marked as such.
DLIB_REFERENCE = {1000: 0.19, 5000: 4.85, 3711: 2.78}


def table_rows(path):
    """Rows of a markdown table as lists of cells (header and rule skipped)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and not set(line) <= set("|-: ") and cells[0] != "data":
            rows.append(cells)
    return rows


def number(pattern, text, cast=float):
    m = re.search(pattern, text)
    return cast(m.group(1)) if m else None


def main():
    out = Path(sys.argv[1])
    read = lambda name: (out / name).read_text() if (out / name).exists() else ""
    peers = {(r[0], int(r[1]), r[2]): (float(r[3]), r[4]) for r in table_rows(out / "peers.md")}
    quality = {(r[0], int(r[1]), r[2]): r[3] for r in table_rows(out / "peers_quality.md")}
    # umap-learn's second call in one process (no numba compilation), where measured.
    warm = {(r[0], int(r[1]), r[2]): float(r[4]) for r in table_rows(out / "peers_quality.md") if len(r) > 4 and r[4]}
    torch_train = number(r"\| CNN train \(batch 64, Adam\) \|[^|]*\| (\d+) img/s", read("peers.md"))
    torch_infer = number(r"\| CNN inference \(batch 256\) \|[^|]*\| (\d+) img/s", read("peers.md"))

    lines = ["| work | N | facemb | peer | peer figure | ratio (> 1: facemb faster) | facemb quality | peer quality |",
             "|---|---|---|---|---|---|---|---|"]

    def ratio(a, b):
        return f"{a / b:.2f}" if a and b else "–"

    for name, backend in (("flex", "flex"), ("flex_unfused", "flex, burn's own conv ops: before the fused kernel"), ("ndarray", "ndarray")):
        text = read(f"net_{name}.txt")
        train = number(r"train (\d+) img/s", text)
        infer = number(r"inference (\d+) img/s", text)
        if train:
            lines.append(f"| CNN training, batch 64, Adam ({backend}) | – | {train:.0f} img/s | PyTorch CPU | "
                         f"{f'{torch_train:.0f} img/s' if torch_train else '–'} | {ratio(train, torch_train)} | | |")
        if infer:
            lines.append(f"| CNN inference, batch 256 ({backend}) | – | {infer:.0f} img/s | PyTorch CPU | "
                         f"{f'{torch_infer:.0f} img/s' if torch_infer else '–'} | {ratio(infer, torch_infer)} | | |")
    net_infer = number(r"inference (\d+) img/s", read("net_flex.txt"))
    e2e = number(r"\((\d+) img/s, decoding included\)", read("infer_stderr.txt"))
    n_img = number(r"embedded (\d+) images", read("infer_stderr.txt"), int)
    wall_rss = read("infer_time.txt").split()
    if e2e:
        rss = f"peak RSS {int(wall_rss[1]) / 1024:.0f} MB, whole command {wall_rss[0]} s" if len(wall_rss) == 2 else ""
        lines.append(f"| end-to-end `infer` command on LFW, one run (decode + resize + network, flex) | {n_img} | {e2e:.0f} img/s | "
                     f"network-only inference (flex, random inputs) | {net_infer:.0f} img/s | {ratio(e2e, net_infer)} of it | {rss} | |")
    rounds = read("infer_rounds.txt")
    r_e2e = number(r"end to end \(.*?\): (\d+) img/s", rounds)
    r_net = number(r"network only \(.*?\), batch \d+: (\d+) img/s", rounds)
    r_ratio = number(r"end to end / network only: ([\d.]+)", rounds)
    r_n = number(r"median of (\d+)", rounds, int)
    if r_e2e and r_net:
        stages = number(r"= ([\d.]+) ms/img", rounds)
        cores = re.search(r"cores busy: network only ([\d.]+), end to end ([\d.]+)", rounds)
        busy = f", cores busy {cores.group(1)} → {cores.group(2)} of 2" if cores else ""
        lines.append(f"| end-to-end embedding on LFW, median of {r_n} interleaved rounds (`facemb bench-infer`) | {n_img or ''} | "
                     f"{r_e2e:.0f} img/s | network-only on the same decoded pixels, same rounds | {r_net:.0f} img/s | "
                     f"{r_ratio:.2f} of it (median of the rounds' ratios) | decode {stages} ms/img on 1 thread{busy} | |")

    for data, n, method, secs, note in table_rows(out / "cluster.md"):
        n, secs = int(n), float(secs)
        pdata = "blobs" if data == "blobs" else "real dlib"
        peer = PEER_OF[method]
        p = peers.get((pdata, n, peer))
        peer_note = ""
        if p is None and method == "chinese whispers" and n in DLIB_REFERENCE:
            p, peer_note = (DLIB_REFERENCE[n], ""), " (reference figure, not this run)"
        qkey = (pdata if pdata == "blobs" else "real", n, peer)
        pq = quality.get(qkey, "")
        pq = f"trustworthiness {pq}" if pq else (p[1] if p else "")
        label = f"{method} ({'blobs 128-d' if data == 'blobs' else 'LFW vectors'})"
        figure, r = (f"{p[0]:.2f} s" if p else "–"), ratio(p[0] if p else None, secs)
        if p and qkey in warm:
            # The fair figure is the warm call; the first call's time is kept beside it.
            figure = f"{warm[qkey]:.2f} s warm (first call {p[0]:.2f} s)"
            r = ratio(warm[qkey], secs)
        lines.append(f"| {label} | {n} | {secs:.2f} s | {peer}{peer_note} | {figure} | {r} | {note} | {pq} |")
    print("\n".join(lines))
    print()
    print(read("load.txt").strip().replace("\n", "; "))


if __name__ == "__main__":
    main()
