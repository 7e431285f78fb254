#!/usr/bin/env python3
"""The photos of an identity folder pasted off-centre into 640x480 test scenes (issue 31's
second photo target): each photo at a random place (seeded), scaled 1-2x, on a random crop of
a test-side scene of scenes_nonface (facemb's split: FNV-1a of the file name % 5 == 0).

    python3 scripts/photos/offcentre.py ../shared/datasets/lfw_identities_photos ../shared/datasets/scenes_nonface OUT

Needs Pillow (the peers venv has it). Keeps ROOT/<name>/<file> so `facemb infer -id OUT`
scores it against the same names.
"""
import os
import random
import sys

from PIL import Image


def fnv1a(s):
    h = 0xCBF29CE484222325
    for c in s.encode():
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    src, scenes_dir, out = sys.argv[1:4]
    scenes = [os.path.join(scenes_dir, f) for f in sorted(os.listdir(scenes_dir)) if f.endswith(".jpg") and fnv1a(f) % 5 == 0]
    scenes = [Image.open(p).convert("RGB") for p in scenes]
    scenes = [s for s in scenes if min(s.size) >= 300]
    rng = random.Random(31)
    for person in sorted(os.listdir(src)):
        d = os.path.join(src, person)
        if not os.path.isdir(d):
            continue
        os.makedirs(os.path.join(out, person), exist_ok=True)
        for f in sorted(os.listdir(d)):
            photo = Image.open(os.path.join(d, f)).convert("RGB")
            scene = rng.choice(scenes)
            bg = scene.resize((640, 480)) if scene.size[0] >= scene.size[1] else scene.crop((0, 0, scene.size[0], scene.size[0] * 3 // 4)).resize((640, 480))
            k = rng.uniform(1.0, 2.0)
            side = int(150 * k)
            p = photo.resize((side, side), Image.BILINEAR)
            x, y = rng.randrange(0, 640 - side), rng.randrange(0, 480 - side)
            bg.paste(p, (x, y))
            bg.save(os.path.join(out, person, f), quality=92)


if __name__ == "__main__":
    main()
