#!/usr/bin/env python3
"""Makes the animation benchmark's input with the vips command: a 100-frame 480x480 pan across a
photo enlarged 1.5 times (the face moves from the right to the top-left corner), as an animated
WebP, and the same frames as an animated GIF.

  make_animation.py PHOTO OUT.webp OUT.gif
"""
import os
import subprocess
import sys
import tempfile

FRAMES, SIDE = 100, 480


def vips(*args):
    subprocess.run(["vips", *args], check=True)


def main():
    photo, webp, gif = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as work:
        big = os.path.join(work, "big.v")
        vips("resize", photo, big, "1.5")
        width = int(subprocess.run(["vipsheader", "-f", "width", big], check=True, capture_output=True, text=True).stdout)
        travel = width - SIDE
        # The frames' raw pixels end to end are the strip of frames libvips saves as an animation
        # (vips arrayjoin of 100 files crashes this vips command).
        raw = os.path.join(work, "strip.raw")
        bands = None
        with open(raw, "wb") as strip:
            for i in range(FRAMES):
                x = travel * i // (FRAMES - 1)
                frame = os.path.join(work, "frame.v")
                vips("extract_area", big, frame, str(x), str(x // 2), str(SIDE), str(SIDE))
                bands = subprocess.run(["vipsheader", "-f", "bands", frame], check=True, capture_output=True, text=True).stdout.strip()
                vips("rawsave", frame, os.path.join(work, "frame.raw"))
                with open(os.path.join(work, "frame.raw"), "rb") as pixels:
                    strip.write(pixels.read())
        frames = os.path.join(work, "strip.v")
        vips("rawload", raw, frames, str(SIDE), str(SIDE * FRAMES), bands)
        vips("copy", frames, os.path.join(work, "srgb.v"), "--interpretation", "srgb")
        vips("webpsave", os.path.join(work, "srgb.v"), webp, "--page-height", str(SIDE), "--Q", "85")
        vips("gifsave", os.path.join(work, "srgb.v"), gif, "--page-height", str(SIDE))

if __name__ == "__main__":
    main()
