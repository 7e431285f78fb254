#!/usr/bin/env python3
"""Merge rules.py result files (json) into the markdown table of docs/grouping/README.md.

Usage: python3 scripts/grouping/table.py RESULT.json [RESULT.json ...]
"""
import json
import sys

EVAL = ["lfw_identities", "att_faces", "yale_faces"]


def main():
    merged = {}
    for p in sys.argv[1:]:
        with open(p) as fh:
            merged.update(json.load(fh))
    f = lambda t: f"{t[0]:.3f}, {100 * t[1]:.0f} %, {t[2]:.2f}"
    print("| rule | parameter (chosen on held-out) | held-out albums ARI | lfw albums: ARI, ≥ 0.9, clusters/person | att albums | yale albums | big folders ARI lfw / att / yale | big lfw: clusters, s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in merged.items():
        p = r["param"]
        if isinstance(p, list):
            p = f"a {p[0]}, b {p[1]}"
        if "beta" in r:
            p = f"{p} (beta {r['beta']:.3f}, k_c {r['kc']})"
        big = " / ".join(f"{r['big_' + s][0]:.3f}" for s in EVAL)
        lfw = r["big_lfw_identities"]
        print(f"| {name} | {p} | {r['cal'][0]:.3f} | {f(r['lfw_identities'])} | {f(r['att_faces'])} | {f(r['yale_faces'])} | {big} | {lfw[1]}, {lfw[2]:.1f} |")


if __name__ == "__main__":
    main()
