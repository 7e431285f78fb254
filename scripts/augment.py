#!/usr/bin/env python3
"""Makes a large clustering folder for scripts/bench_scale.sh by augmenting a real one:
SRC/<identity>/<image> -> DST/<identity>/<copy>_<image>.jpg, N images in all, each a
seeded random crop (90-100 %), optional mirror and brightness change of a source image, so
no two files are identical. Needs Pillow. Not for training or evaluation: a speed test."""
import argparse
import random
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--n", type=int, default=100_000)
    a = ap.parse_args()
    sources = sorted(p for p in a.src.glob("*/*") if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".pgm"})
    if not sources:
        raise SystemExit(f"no images under {a.src}/<identity>/")
    rng = random.Random(0)
    for i in range(a.n):
        src = sources[i % len(sources)]
        out = a.dst / src.parent.name / f"{i // len(sources):03d}_{src.stem}.jpg"
        if out.exists():
            continue
        img = Image.open(src).convert("RGB")
        w, h = img.size
        f = rng.uniform(0.9, 1.0)
        cw, ch = int(w * f), int(h * f)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        img = img.crop((x, y, x + cw, y + ch))
        if rng.random() < 0.5:
            img = ImageOps.mirror(img)
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2))
        out.parent.mkdir(parents=True, exist_ok=True)
        img.save(out, quality=90)
        if (i + 1) % 10_000 == 0:
            print(f"{i + 1} images", flush=True)


if __name__ == "__main__":
    main()
