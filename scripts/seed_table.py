#!/usr/bin/env python3
"""Mean ± sd over seeds of scripts/identity_eval.sh tables.

    scripts/seed_table.py NAME=table.md [NAME=table.md ...]

Prints one markdown row per folder: each seed's 1-NN / k-means ARI / automatic ARI
(average linkage at infer's default cut), then the mean ± sd (sample sd) over the seeds.
"""
import statistics
import sys


def read(path):
    rows = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[1] == "model":
            rows[cells[0]] = [float(cells[2]), float(cells[3]), float(cells[4].split()[0])]
    return rows


def main():
    runs = [arg.split("=", 1) for arg in sys.argv[1:]]
    if not runs or any(len(r) != 2 for r in runs):
        sys.exit(__doc__)
    tables = [(name, read(path)) for name, path in runs]
    print("| folder | " + " | ".join(name for name, _ in tables) + " | mean ± sd |")
    print("|---|" + "---|" * (len(tables) + 1))
    for folder in tables[0][1]:
        scores = [t[folder] for _, t in tables]
        cells = [" / ".join(f"{v:.3f}" for v in s) for s in scores]
        stats = []
        for i in range(3):
            col = [s[i] for s in scores]
            sd = statistics.stdev(col) if len(col) > 1 else 0.0
            stats.append(f"{statistics.mean(col):.3f} ± {sd:.3f}")
        print(f"| {folder} | " + " | ".join(cells) + " | " + " / ".join(stats) + " |")


if __name__ == "__main__":
    main()
