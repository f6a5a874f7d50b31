#!/usr/bin/env python3
"""Writes a photo as raw interleaved RGB bytes, resized so its longer side is SIZE pixels, and
prints `WIDTH HEIGHT`. For FaceBench's --rgb input. Usage: make_rgb.py PHOTO SIZE OUT"""
import sys

from PIL import Image

photo, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
image = Image.open(photo).convert("RGB")
scale = size / max(image.size)
image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
with open(out, "wb") as f:
    f.write(image.tobytes())
print(image.width, image.height)
