#!/usr/bin/env python3
"""Output bytes: smartcrop against vipsthumbnail making the same crop at the same size and quality.

For each sample photo, size and format, `smartcrop crop --json` says which rectangle it cut; the
same rectangle is cut with `vips crop` and made into the same size by `vipsthumbnail` at the same
quality and in the same colour space: for a photo tagged with another profile than sRGB (rocket.jpg
is Adobe RGB) vipsthumbnail gets `--export-profile srgb`, since we convert such photos to sRGB and
it otherwise keeps their pixels as they are (an untagged or sRGB photo is left alone: asking
vipsthumbnail to export those changes their pixels through lcms). Its defaults otherwise, so it
keeps the metadata. Prints each photo's bytes and the ratio, then the totals
over the photos for each size and format; exits 1 if a total of ours is larger (the target:
ours <= vipsthumbnail's at every size and format). Single photos may differ by a fraction of a
percent either way: the two resample along different paths, so their pixels differ slightly.

Usage: bytes_bench.py SMARTCROP SAMPLES_DIR
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

SIZES = [(48, 48), (128, 128), (256, 256), (1200, 630)]
FORMATS = [("jpeg", "jpg", 85), ("webp", "webp", 85), ("avif", "avif", 60), ("png", "png", None)]


def tagged_other_than_srgb(path):
    """Whether the image carries an ICC profile that does not describe sRGB."""
    data = subprocess.run(["vipsheader", "-f", "icc-profile-data", path], capture_output=True).stdout
    if not data.strip():
        return False
    try:
        profile = base64.b64decode(data.strip())
    except ValueError:
        return False
    return b"sRGB" not in profile and b"s\x00R\x00G\x00B" not in profile


def main():
    smartcrop, samples = sys.argv[1], sys.argv[2]
    photos = sorted(f for f in os.listdir(samples) if f.endswith((".png", ".jpg")))
    larger = []
    totals = {}
    with tempfile.TemporaryDirectory() as work:
        print(f"{'photo':22} {'size':>9} {'format':>6} {'ours':>9} {'vipsthumb':>9} {'ratio':>6}")
        for photo in photos:
            source = os.path.join(samples, photo)
            export = ["--export-profile", "srgb"] if tagged_other_than_srgb(source) else []
            for width, height in SIZES:
                for name, ext, quality in FORMATS:
                    ours = os.path.join(work, f"ours.{ext}")
                    args = [smartcrop, "crop", source, "--size", f"{width}x{height}", "-o", ours, "--json"]
                    if quality:
                        args += ["--quality", str(quality)]
                    answer = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
                    crop = answer["crop"]
                    region = os.path.join(work, "region.v")
                    subprocess.run(["vips", "crop", source, region, str(crop["x"]), str(crop["y"]),
                                    str(crop["width"]), str(crop["height"])], check=True)
                    theirs = os.path.join(work, f"theirs.{ext}")
                    options = f"[Q={quality}]" if quality else ""
                    subprocess.run(["vipsthumbnail", region, "-s", f"{width}x{height}!", *export, "-o", theirs + options],
                                   check=True, capture_output=True)
                    a, b = os.path.getsize(ours), os.path.getsize(theirs)
                    key = (f"{width}x{height}", name)
                    totals.setdefault(key, [0, 0])
                    totals[key][0] += a
                    totals[key][1] += b
                    print(f"{photo:22} {width:4}x{height:<4} {name:>6} {a:9} {b:9} {a / b:6.2f}")
                    if a > b:
                        larger.append(f"{photo} {width}x{height} {name}: {a} > {b} ({a / b - 1:+.1%})")
    print("\nall photos:")
    worse = []
    for (size, name), (a, b) in totals.items():
        print(f"  {size:>9} {name:>6} {a:9} {b:9} {a / b:6.2f}")
        if a > b:
            worse.append(f"{size} {name}")
    if larger:
        print("single photos larger than vipsthumbnail's:\n  " + "\n  ".join(larger))
    if worse:
        print("larger in total: " + ", ".join(worse))
        sys.exit(1)
    print("ours <= vipsthumbnail's at every size and format")


if __name__ == "__main__":
    main()
