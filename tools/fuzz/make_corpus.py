#!/usr/bin/env python3
"""Writes the hostile-input corpus of `make fuzz`: one folder per class, the same bytes every run.

    python3 tools/fuzz/make_corpus.py --out .assets/fuzz/corpus [--samples .assets/samples]

Base images are the sample photos, scaled to 480 px and written by the `vips` command as
JPEG, PNG, WebP, AVIF, HEIC, GIF, TIFF, progressive JPEG and interlaced PNG (folder `base`,
also run by run_fuzz.py as a control: every one of them must decode). Everything else is
derived from them, or written by hand here, with fixed random seeds:

    truncated    every base file cut at ~25 offsets (first bytes, inside headers, fractions, random)
    bitflip      1 to 64 random bit flips, in the header or anywhere, 6 per base file
    huge-header  headers that claim huge dimensions (PNG, GIF, JPEG, TIFF, WebP, AVIF/HEIC)
    bomb         small files that decode to 100 MP or more (PNG, TIFF, GIF, JPEG)
    wrong-magic  magic bytes that lie about what follows
    svg          SVG/SVGZ (a truncated SVGZ too), XML, HTML, PDF, BMP, PPM, PSD and other formats we refuse
    empty        empty, 1 byte, zero bytes, random bytes
    json         operation lists (for the server) mutated from valid ones

Only the standard library and the `vips` command (Debian libvips-tools) are used. A file
`.complete` is written last, so an interrupted run is redone.
"""
import argparse
import gzip
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

SAMPLES = ["astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png", "rocket.jpg"]
BASE_SIZE = 480

# kind -> (extension, vips save options)
BASE_KINDS = {
    "jpeg": ("jpg", "[Q=85,strip]"),
    "pjpeg": ("jpg", "[Q=85,interlace,strip]"),
    "png": ("png", "[strip]"),
    "ipng": ("png", "[interlace,strip]"),
    "webp": ("webp", "[Q=80,strip]"),
    "avif": ("avif", "[compression=av1,Q=50,strip]"),
    "heic": ("heic", "[compression=hevc,Q=50,strip]"),
    "gif": ("gif", ""),
    "tiff": ("tif", "[strip]"),
}


def rng(*key):
    """A random generator seeded by a name: the same bytes every run, whatever order runs in."""
    return random.Random("smartcrop-fuzz:" + ":".join(map(str, key)))


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def vips(*args):
    subprocess.run(["vips", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# ---------------------------------------------------------------------------------------------
# base images

def make_base(samples, out, tmp):
    """The sample photos at 480 px in every input format; returns {name: bytes}."""
    base = {}
    folder = os.path.join(out, "base")
    for sample in SAMPLES:
        src = os.path.join(samples, sample)
        if not os.path.exists(src):
            sys.exit(f"missing sample photo {src} (run `make samples`)")
        stem = os.path.splitext(sample)[0].replace("_", "-")
        small = os.path.join(tmp, stem + ".v")
        vips("thumbnail", src, small, str(BASE_SIZE))
        for kind, (ext, options) in BASE_KINDS.items():
            name = f"{stem}-{kind}.{ext}"
            path = os.path.join(folder, name)
            os.makedirs(folder, exist_ok=True)
            vips("copy", small, path + options)
            with open(path, "rb") as f:
                base[name] = f.read()
    # A lossless WebP too: its VP8L header is patched in huge-header.
    vips("copy", os.path.join(tmp, "astronaut.v"), os.path.join(tmp, "lossless.webp[lossless,strip]"))
    with open(os.path.join(tmp, "lossless.webp"), "rb") as f:
        base["_lossless.webp"] = f.read()
    return base


# ---------------------------------------------------------------------------------------------
# structure of the formats: where headers, chunks, segments and boxes start

def png_chunks(data):
    """(offset, type, data offset, length) of each chunk."""
    pos, chunks = 8, []
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        chunks.append((pos, ctype, pos + 8, length))
        pos += 12 + length
    return chunks


def jpeg_segments(data):
    """(offset, marker) of each marker segment up to and including the first SOS."""
    pos, segments = 2, []
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        segments.append((pos, marker))
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker == 0xDA:
            segments.append((pos + 2 + length, None))  # start of the entropy-coded data
            break
        pos += 2 + length
    return segments


def riff_chunks(data):
    pos, chunks = 12, []
    while pos + 8 <= len(data):
        ctype, size = struct.unpack("<4sI", data[pos:pos + 8])
        chunks.append((pos, ctype, pos + 8, size))
        pos += 8 + size + (size & 1)
    return chunks


CONTAINER_BOXES = {b"meta": 4, b"iprp": 0, b"ipco": 0, b"iinf": 6, b"dinf": 0, b"moov": 0, b"trak": 0}


def bmff_boxes(data, start=0, end=None, depth=0):
    """(offset, type) of each ISO-BMFF box, containers entered."""
    end = len(data) if end is None else end
    pos, boxes = start, []
    while pos + 8 <= end:
        size, btype = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1 and pos + 16 <= end:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            break
        boxes.append((pos, btype))
        if btype in CONTAINER_BOXES and depth < 4:
            skip = CONTAINER_BOXES[btype]
            boxes += bmff_boxes(data, pos + header + skip, min(end, pos + size), depth + 1)
        pos += size
    return boxes


def gif_points(data):
    points = [6, 10, 13]
    if len(data) < 13:
        return points
    flags = data[10]
    pos = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
    points.append(pos)
    while pos < len(data) and len(points) < 24:
        block = data[pos]
        if block == 0x21 and pos + 2 < len(data):  # extension: label, then sub-blocks
            pos += 2
            while pos < len(data) and data[pos]:
                pos += 1 + data[pos]
            pos += 1
            points.append(pos)
        elif block == 0x2C and pos + 10 <= len(data):  # image descriptor
            points += [pos, pos + 5, pos + 10]
            iflags = data[pos + 9]
            pos += 10 + (3 * (2 << (iflags & 7)) if iflags & 0x80 else 0)
            points += [pos, pos + 1, pos + 2]  # LZW minimum code size, first sub-block
            break
        else:
            break
    return points


def tiff_points(data):
    if len(data) < 8:
        return [4]
    endian = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(endian + "I", data[4:8])[0]
    points = [4, 8, ifd, ifd + 2, ifd + 2 + 12, ifd + 2 + 12 * 4]
    if ifd + 2 <= len(data):
        count = struct.unpack(endian + "H", data[ifd:ifd + 2])[0]
        points.append(ifd + 2 + 12 * count)
        for i in range(min(count, 64)):
            entry = ifd + 2 + 12 * i
            if entry + 12 > len(data):
                break
            tag, typ, n = struct.unpack(endian + "HHI", data[entry:entry + 8])
            if tag in (273, 324) and n >= 1:  # StripOffsets / TileOffsets: the first strip or tile
                value = data[entry + 8:entry + 12]
                first = struct.unpack(endian + ("H" if typ == 3 else "I"), value[:2] if typ == 3 else value)[0]
                if n > (2 if typ == 3 else 1):
                    off = struct.unpack(endian + "I", value)[0]
                    if off + 4 <= len(data):
                        first = struct.unpack(endian + ("H" if typ == 3 else "I"), data[off:off + (2 if typ == 3 else 4)])[0]
                points += [first, first + 1]
    return points


def structure_points(data):
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        pts = []
        for off, _, doff, _ in png_chunks(data):
            pts += [off, off + 4, doff, doff + 1]
        return pts
    if data[:2] == b"\xff\xd8":
        pts = []
        for off, marker in jpeg_segments(data):
            pts += [off, off + 2, off + 4]
        return pts
    if data[:4] == b"RIFF":
        pts = [4, 8, 12]
        for off, _, doff, _ in riff_chunks(data):
            pts += [off, doff, doff + 3, doff + 10]
        return pts
    if data[4:8] == b"ftyp":
        pts = []
        for off, _ in bmff_boxes(data):
            pts += [off, off + 8]
        return pts
    if data[:3] == b"GIF":
        return gif_points(data)
    if data[:2] in (b"II", b"MM"):
        return tiff_points(data)
    return []


def truncation_offsets(name, data):
    size = len(data)
    r = rng("truncate", name)
    offsets = {1, 2, 4, 8, 16, 64, 256}
    structural = sorted({p for p in structure_points(data) if 0 < p < size})
    if len(structural) > 8:
        structural = [structural[round(i * (len(structural) - 1) / 7)] for i in range(8)]
    offsets |= set(structural)
    offsets |= {int(size * f) for f in (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)}
    offsets |= {size - 1, size - 2}
    offsets |= {r.randrange(1, size) for _ in range(3)}
    return sorted(o for o in offsets if 0 < o < size)


def make_truncated(base, out):
    folder = os.path.join(out, "truncated")
    for name, data in base.items():
        if name.startswith("_"):
            continue
        stem, ext = os.path.splitext(name)
        for off in truncation_offsets(name, data):
            write(folder, f"{stem}@{off}{ext}", data[:off])


def make_bitflip(base, out):
    folder = os.path.join(out, "bitflip")
    for name, data in base.items():
        if name.startswith("_"):
            continue
        stem, ext = os.path.splitext(name)
        for i, flips in enumerate((1, 2, 4, 8, 16, 64)):
            r = rng("bitflip", name, i)
            buf = bytearray(data)
            # Even runs keep the flips in the first 2 KB, where headers are; odd ones anywhere.
            span = min(len(buf), 2048) if i % 2 == 0 else len(buf)
            for _ in range(flips):
                pos = r.randrange(span)
                buf[pos] ^= 1 << r.randrange(8)
            write(folder, f"{stem}~{flips}flips{'h' if i % 2 == 0 else 'a'}{ext}", bytes(buf))


# ---------------------------------------------------------------------------------------------
# hand-written files

def png_chunk(ctype, payload):
    return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", zlib.crc32(ctype + payload))


def png(width, height, idat, bit_depth=8, colour_type=2, interlace=0, idat_chunks=1):
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, interlace)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    step = max(1, -(-len(idat) // idat_chunks))
    for i in range(0, max(len(idat), 1), step):
        out += png_chunk(b"IDAT", idat[i:i + step])
    return out + png_chunk(b"IEND", b"")


def zeros_zlib(row_bytes, rows, level=9):
    """zlib stream of `rows` rows of `row_bytes` zero bytes (a PNG row is filter byte + data)."""
    c = zlib.compressobj(level)
    row = bytes(row_bytes)
    parts = [c.compress(row) for _ in range(rows)]
    parts.append(c.flush())
    return b"".join(parts)


def patch_png_ihdr(data, width, height):
    """The same PNG claiming another size, its CRC recomputed so only the size is hostile."""
    buf = bytearray(data)
    for off, ctype, doff, length in png_chunks(data):
        if ctype == b"IHDR":
            buf[doff:doff + 8] = struct.pack(">II", width, height)
            buf[doff + length:doff + length + 4] = struct.pack(">I", zlib.crc32(bytes(buf[off + 4:doff + length])))
    return bytes(buf)


def gif_lzw_single_colour(pixels, min_code_size=2):
    """The LZW stream (GIF variant) of `pixels` pixels of colour 0, without a per-pixel loop:
    in a one-colour image every code is 0 repeated, each new code one pixel longer than the last."""
    clear, eoi = 1 << min_code_size, (1 << min_code_size) + 1
    out, acc, nbits = bytearray(), 0, 0

    def put(code, width):
        nonlocal acc, nbits
        acc |= code << nbits
        nbits += width
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8

    width, next_code, longest = min_code_size + 1, eoi + 1, 1
    put(clear, width)
    remaining = pixels
    while remaining > 0:
        if remaining <= longest:  # the last string: its code exists already
            put(0 if remaining == 1 else eoi + 1 + remaining - 2, width)
            remaining = 0
            break
        put(0 if longest == 1 else eoi + 1 + longest - 2, width)
        remaining -= longest
        if next_code < 4096:
            if next_code == 1 << width:
                width += 1
            next_code += 1
            longest += 1
        else:  # the table is full: start again
            put(clear, width)
            width, next_code, longest = min_code_size + 1, eoi + 1, 1
    put(eoi, width)
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def gif_sub_blocks(data):
    return b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255] for i in range(0, len(data), 255)) + b"\x00"


def gif(screen, image, lzw, min_code_size=2):
    """A GIF89a with a 2-colour global palette and one image."""
    head = b"GIF89a" + struct.pack("<HHBBB", screen[0], screen[1], 0x80, 0, 0) + b"\x20\x40\x60\xff\xff\xff"
    desc = b"\x2c" + struct.pack("<HHHHB", 0, 0, image[0], image[1], 0)
    return head + desc + bytes([min_code_size]) + gif_sub_blocks(lzw) + b"\x3b"


def tiff(width, height, strips, compression=1, samples=1, bits=8, rows_per_strip=None, photometric=None):
    """A little-endian TIFF with the given strips (already compressed) and LONG size tags."""
    rows_per_strip = rows_per_strip or height
    photometric = photometric if photometric is not None else (2 if samples >= 3 else 1)
    entries = []
    header_size = 8
    strip_data = b"".join(strips)
    data_off = header_size
    offsets, pos = [], data_off
    for s in strips:
        offsets.append(pos)
        pos += len(s)
    extra = bytearray()
    n_entries = 11
    ifd_off = pos + (pos & 1)
    extra_off = ifd_off + 2 + 12 * n_entries + 4

    def array(values, fmt="I"):
        nonlocal extra
        if len(values) * struct.calcsize(fmt) <= 4:
            return struct.pack("<" + fmt * len(values), *values).ljust(4, b"\0")
        off = extra_off + len(extra)
        extra += struct.pack("<" + fmt * len(values), *values)
        return struct.pack("<I", off)

    def entry(tag, typ, count, value):
        entries.append(struct.pack("<HHI", tag, typ, count) + value)

    entry(256, 4, 1, struct.pack("<I", width))
    entry(257, 4, 1, struct.pack("<I", height))
    entry(258, 3, samples, array([bits] * samples, "H"))
    entry(259, 3, 1, struct.pack("<HH", compression, 0))
    entry(262, 3, 1, struct.pack("<HH", photometric, 0))
    entry(273, 4, len(strips), array(offsets))
    entry(277, 3, 1, struct.pack("<HH", samples, 0))
    entry(278, 4, 1, struct.pack("<I", rows_per_strip))
    entry(279, 4, len(strips), array([len(s) for s in strips]))
    entry(284, 3, 1, struct.pack("<HH", 1, 0))  # PlanarConfiguration: chunky
    entry(339, 3, samples, array([1] * samples, "H"))  # SampleFormat: unsigned
    assert len(entries) == n_entries
    out = b"II*\0" + struct.pack("<I", ifd_off) + strip_data + (b"\0" if pos & 1 else b"")
    out += struct.pack("<H", n_entries) + b"".join(entries) + struct.pack("<I", 0) + bytes(extra)
    return out


def patch_jpeg_sof(data, width, height):
    buf = bytearray(data)
    for off, marker in jpeg_segments(data):
        if marker in (0xC0, 0xC1, 0xC2):
            buf[off + 5:off + 9] = struct.pack(">HH", height, width)
    return bytes(buf)


def patch_ispe(data, width, height):
    buf = bytearray(data)
    pos = data.find(b"ispe")
    while pos >= 0:
        buf[pos + 8:pos + 16] = struct.pack(">II", width, height)
        pos = data.find(b"ispe", pos + 4)
    return bytes(buf)


def riff(chunks):
    body = b"WEBP" + b"".join(struct.pack("<4sI", t, len(p)) + p + (b"\0" if len(p) & 1 else b"") for t, p in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_vp8x(canvas_w, canvas_h, inner_chunks, flags=0):
    vp8x = bytes([flags, 0, 0, 0]) + (canvas_w - 1).to_bytes(3, "little") + (canvas_h - 1).to_bytes(3, "little")
    return riff([(b"VP8X", vp8x)] + inner_chunks)


def make_huge_header(base, out):
    folder = os.path.join(out, "huge-header")
    w = lambda name, data: write(folder, name, data)
    row = zlib.compress(bytes(1 + 3 * 64))
    # PNG: hand-made, a few bytes of image data behind the claim.
    for width, height in [(100000, 100000), (65535, 1), (1, 65535), (65535, 65535), (2**31 - 1, 1),
                          (1, 2**31 - 1), (2**31 - 1, 2**31 - 1), (10000, 10000), (0, 100)]:
        w(f"png-{width}x{height}.png", png(width, height, row))
    w("png-16bit-rgba-100000x100000.png", png(100000, 100000, row, bit_depth=16, colour_type=6))
    w("png-palette-100000x100000-interlaced.png", png(100000, 100000, row, bit_depth=8, colour_type=3, interlace=1))
    # A real PNG (sample image data) whose IHDR alone is patched, CRC recomputed.
    real_png = base["astronaut-png.png"]
    for width, height in [(100000, 100000), (65535, 1), (2**31 - 1, 2**31 - 1), (20000, 20000)]:
        w(f"png-real-{width}x{height}.png", patch_png_ihdr(real_png, width, height))
    # GIF: logical screen and image claims.
    lzw = gif_lzw_single_colour(64)
    w("gif-65535x65535.gif", gif((65535, 65535), (65535, 65535), lzw))
    w("gif-screen-65535x65535-image-8x8.gif", gif((65535, 65535), (8, 8), lzw))
    w("gif-screen-8x8-image-65535x65535.gif", gif((8, 8), (65535, 65535), lzw))
    w("gif-65535x1.gif", gif((65535, 1), (65535, 1), lzw))
    # JPEG: the SOF of a real JPEG patched.
    for kind in ("jpeg", "pjpeg"):
        real = base[f"astronaut-{kind}.jpg"]
        for width, height in [(65500, 65500), (65535, 65535), (65500, 1), (1, 65500), (0, 0)]:
            w(f"{kind}-sof-{width}x{height}.jpg", patch_jpeg_sof(real, width, height))
    # TIFF: LONG ImageWidth/ImageLength with one small strip.
    strip = bytes(range(256)) * 4
    # (One strip for the whole image, so that the strip count agrees with the size.)
    for width, height in [(2**31 - 1, 2**31 - 1), (100000, 100000), (2**31 - 1, 1), (1, 2**31 - 1), (2**32 - 1, 2**32 - 1),
                          (65535, 65535)]:
        w(f"tiff-{width}x{height}.tif", tiff(width, height, [strip]))
    w("tiff-rgb-deflate-100000x100000.tif", tiff(100000, 100000, [zlib.compress(bytes(3 * 100000))], compression=8, samples=3))
    w("tiff-strip-count-mismatch-100000x100000.tif", tiff(100000, 100000, [strip], rows_per_strip=1))
    w("tiff-rows-per-strip-0-65535x65535.tif", tiff(65535, 65535, [strip], rows_per_strip=0))
    # WebP: a VP8X canvas around a real (small) frame, and the frame headers themselves patched.
    lossy = base["astronaut-webp.webp"]
    vp8 = None
    for off, ctype, doff, size in riff_chunks(lossy):
        if ctype == b"VP8 ":
            vp8 = lossy[doff:doff + size]
    assert vp8 is not None, "vips wrote no VP8 chunk"
    w("webp-vp8x-16383x16383.webp", webp_vp8x(16383, 16383, [(b"VP8 ", vp8)]))
    w("webp-vp8x-16777216x16777216.webp", webp_vp8x(2**24, 2**24, [(b"VP8 ", vp8)]))
    w("webp-vp8x-16383x16383-alpha-no-alph.webp", webp_vp8x(16383, 16383, [(b"VP8 ", vp8)], flags=0x10))
    patched = bytearray(vp8)
    patched[6:10] = struct.pack("<HH", 16383, 16383)  # 14-bit sizes, no scaling
    w("webp-vp8-frame-16383x16383.webp", riff([(b"VP8 ", bytes(patched))]))
    lossless = base["_lossless.webp"]
    for off, ctype, doff, size in riff_chunks(lossless):
        if ctype == b"VP8L":
            vp8l = bytearray(lossless[doff:doff + size])
            bits = struct.unpack("<I", bytes(vp8l[1:5]))[0]
            for side in (16383, 16384):  # 14-bit width-1 and height-1
                vp8l[1:5] = struct.pack("<I", (bits & ~((1 << 28) - 1)) | (side - 1) | ((side - 1) << 14))
                w(f"webp-vp8l-{side}x{side}.webp", riff([(b"VP8L", bytes(vp8l))]))
    # AVIF and HEIC: the item's ispe box patched.
    for width, height in [(40000, 40000), (65535, 65535), (2**32 - 1, 2**32 - 1), (0, 0), (16384, 16384)]:
        w(f"avif-ispe-{width}x{height}.avif", patch_ispe(base["astronaut-avif.avif"], width, height))
    w("heic-ispe-40000x40000.heic", patch_ispe(base["astronaut-heic.heic"], 40000, 40000))


def make_bombs(out, tmp):
    folder = os.path.join(out, "bomb")
    w = lambda name, data: write(folder, name, data)
    side = 10000
    # Exactly at the default limit of 100 MP: decoded, and it must stay well under 1 GB.
    w("png-gray-10000x10000-zeros.png", png(side, side, zeros_zlib(1 + side, side), colour_type=0))
    w("png-rgb-10000x10000-zeros.png", png(side, side, zeros_zlib(1 + 3 * side, side), colour_type=2))
    w("png-rgba16-10000x10000-zeros.png", png(side, side, zeros_zlib(1 + 8 * side, side), bit_depth=16, colour_type=6))
    w("png-rgb-10000x10000-zeros-1000-idat.png", png(side, side, zeros_zlib(1 + 3 * side, side), colour_type=2, idat_chunks=1000))
    # Over the limit: refused from the header.
    w("png-gray-20000x20000-zeros.png", png(20000, 20000, zeros_zlib(1 + 20000, 20000), colour_type=0))
    # Deflate TIFF of zeros: strips of 16 rows, and one strip holding the whole image.
    strip = zlib.compress(bytes(side * 16), 9)
    w("tiff-deflate-10000x10000-zeros.tif", tiff(side, side, [strip] * (side // 16), compression=8, rows_per_strip=16))
    w("tiff-deflate-10000x10000-zeros-1strip.tif", tiff(side, side, [zeros_zlib(side, side)], compression=8))
    w("tiff-rgb-deflate-10000x10000-zeros.tif",
      tiff(side, side, [zlib.compress(bytes(3 * side * 64), 9)] * (side // 64) + [zlib.compress(bytes(3 * side * (side % 64)), 9)],
           compression=8, samples=3, rows_per_strip=64))
    # GIF of one colour, LZW.
    w("gif-10000x10000-one-colour.gif", gif((side, side), (side, side), gif_lzw_single_colour(side * side)))
    # A uniform 10000x10000 JPEG (shrink-on-load makes it cheap, if used) and a 2-frame GIF.
    path = os.path.join(folder, "jpeg-10000x10000-grey.jpg")
    vips("black", os.path.join(tmp, "black.v"), str(side), str(side), "--bands", "1")
    vips("copy", os.path.join(tmp, "black.v"), path + "[Q=75,strip]")
    os.remove(os.path.join(tmp, "black.v"))
    path = os.path.join(folder, "pjpeg-10000x10000-grey.jpg")
    vips("black", os.path.join(tmp, "black.v"), str(side), str(side), "--bands", "1")
    vips("copy", os.path.join(tmp, "black.v"), path + "[Q=75,interlace,strip]")
    os.remove(os.path.join(tmp, "black.v"))


def make_wrong_magic(base, out):
    folder = os.path.join(out, "wrong-magic")
    w = lambda name, data: write(folder, name, data)
    jpeg, pngd = base["coffee-jpeg.jpg"], base["coffee-png.png"]
    sig = b"\x89PNG\r\n\x1a\n"
    w("png-signature-then-jpeg.png", sig + jpeg)
    w("png-signature-over-jpeg.png", sig + jpeg[8:])
    w("png-signature-ihdr-then-jpeg.png", sig + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 600, 400, 8, 2, 0, 0, 0)) + jpeg)
    w("jpeg-soi-then-png.jpg", b"\xff\xd8\xff" + pngd)
    w("jpeg-soi-app0-then-png.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + pngd)
    w("jpeg-soi-over-png.jpg", b"\xff\xd8" + pngd[2:])
    w("webp-riff-around-jpeg.webp", riff([(b"VP8 ", jpeg)]))
    w("webp-riff-vp8l-around-png.webp", riff([(b"VP8L", pngd)]))
    w("webp-riff-vp8x-around-jpeg.webp", webp_vp8x(600, 400, [(b"VP8 ", jpeg)]))
    ftyp = lambda brand: struct.pack(">I4s4sI4s4s", 24, b"ftyp", brand, 0, brand, b"mif1")
    w("avif-ftyp-then-png.avif", ftyp(b"avif") + pngd)
    w("heic-ftyp-then-jpeg.heic", ftyp(b"heic") + jpeg)
    w("avif-ftyp-meta-empty-then-png.avif", ftyp(b"avif") + struct.pack(">I4sI", 12, b"meta", 0) + pngd)
    w("gif-header-then-png.gif", b"GIF89a" + pngd)
    w("tiff-header-then-jpeg.tif", b"II*\0\x08\0\0\0" + jpeg)
    w("tiff-bigendian-header-then-png.tif", b"MM\0*\0\0\0\x08" + pngd)
    w("jpeg-as-png-name.png", jpeg)  # honest bytes, lying name: must decode
    w("png-as-jpeg-name.jpg", pngd)
    magics = {
        "png": sig, "png-ihdr": sig + b"\0\0\0\x0dIHDR", "jpeg": b"\xff\xd8\xff", "jpeg-jfif": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
        "gif87a": b"GIF87a", "gif89a": b"GIF89a", "webp-vp8": b"RIFF\x00\x10\x00\x00WEBPVP8 ",
        "webp-vp8l": b"RIFF\x00\x10\x00\x00WEBPVP8L", "webp-vp8x": b"RIFF\x00\x10\x00\x00WEBPVP8X",
        "avif": struct.pack(">I4s4s", 24, b"ftyp", b"avif"), "heic": struct.pack(">I4s4s", 24, b"ftyp", b"heic"),
        "mif1": struct.pack(">I4s4s", 24, b"ftyp", b"mif1"), "tiff-le": b"II*\0", "tiff-be": b"MM\0*",
        "bigtiff": b"II+\0\x08\0\0\0", "bmp": b"BM", "pdf": b"%PDF-1.7\n", "svg": b"<svg ", "psd": b"8BPS",
        "ppm": b"P6\n", "jxl": b"\xff\x0a", "jp2": b"\0\0\0\x0cjP  \r\n\x87\n", "exr": b"\x76\x2f\x31\x01",
        "gzip": b"\x1f\x8b\x08\x00",
    }
    for name, magic in magics.items():
        r = rng("magic", name)
        for size in (64, 4096):
            w(f"{name}-then-{size}-random.bin", magic + bytes(r.getrandbits(8) for _ in range(size)))


def bmp(width, height):
    row = (3 * width + 3) & ~3
    data = b"".join(b"".join(bytes((x * 40 % 256, y * 60 % 256, 128)) for x in range(width)).ljust(row, b"\0")
                    for y in range(height))
    header = struct.pack("<2sIHHI", b"BM", 54 + len(data), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    return header + info + data


def make_svg_and_others(out):
    folder = os.path.join(out, "svg")
    w = lambda name, data: write(folder, name, data)
    circles = "".join(f'<circle cx="{(i * 37) % 400}" cy="{(i * 53) % 300}" r="{5 + i % 20}" fill="#{(i * 2654435761) % 0xFFFFFF:06x}"/>'
                      for i in range(200))
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300" viewBox="0 0 400 300">{circles}</svg>'.encode()
    svgz = gzip.compress(svg, compresslevel=9, mtime=0)
    w("plain.svg", svg)
    w("with-xml-declaration.svg", b'<?xml version="1.0" encoding="UTF-8"?>\n' + svg)
    w("plain.svgz", svgz)
    w("truncated.svgz", svgz[:40])
    w("truncated-svgz-named.jpg", svgz[:40])
    w("truncated.svgz.png", svgz[:40])
    w("truncated-200.svgz", svgz[:200])
    w("huge.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><rect width="100%" height="100%"/></svg>')
    w("billion-laughs.svg", b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">'
      + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9))
      + b']><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&j;</text></svg>')
    w("external-entity.svg", b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
      b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&x;</text></svg>')
    w("xml.xml", b'<?xml version="1.0" encoding="UTF-8"?>\n<root><item>1</item></root>\n')
    w("html.html", b"<!DOCTYPE html><html><head><title>x</title></head><body><img src=x></body></html>\n")
    w("pdf.pdf", b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
      b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
    w("bmp-24bit-8x8.bmp", bmp(8, 8))
    w("bmp-huge-header.bmp", bmp(2, 2)[:18] + struct.pack("<ii", 100000, 100000) + bmp(2, 2)[26:])
    w("ppm-p6-4x4.ppm", b"P6\n4 4\n255\n" + bytes(range(48)))
    w("pgm-p5-huge.pgm", b"P5\n100000 100000\n255\n" + bytes(64))
    w("pfm.pfm", b"PF\n2 2\n-1.0\n" + bytes(48))
    w("psd.psd", b"8BPS\0\x01" + bytes(6) + struct.pack(">HIIHH", 3, 4, 4, 8, 3) + bytes(64))
    w("exr.exr", b"\x76\x2f\x31\x01\x02\0\0\0" + bytes(64))
    w("jp2.jp2", b"\0\0\0\x0cjP  \r\n\x87\n\0\0\0\x14ftypjp2 \0\0\0\0jp2 " + bytes(64))
    w("jxl-codestream.jxl", b"\xff\x0a" + bytes(range(64)))
    w("fits.fits", b"SIMPLE  =                    T".ljust(80) + b"BITPIX  =                    8".ljust(80)
      + b"NAXIS   =                    2".ljust(80) + b"NAXIS1  =                    4".ljust(80)
      + b"NAXIS2  =                    4".ljust(80) + b"END".ljust(80) + bytes(2880 - 480) + bytes(16))
    w("radiance.hdr", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n" + bytes(16))
    w("ico.ico", struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, 40, 22) + bytes(40))
    w("matlab.mat", b"MATLAB 5.0 MAT-file".ljust(116) + bytes(12))
    w("vips-native.v", b"\x08\xf2\xa6\xb6" + bytes(60))
    w("gzip-of-png.png.gz", gzip.compress(b"\x89PNG\r\n\x1a\n" + bytes(64), mtime=0))


def make_empty(out):
    folder = os.path.join(out, "empty")
    w = lambda name, data: write(folder, name, data)
    r = rng("empty")
    w("empty.jpg", b"")
    w("one-byte.png", b"\0")
    w("zeros-1k.jpg", bytes(1024))
    w("zeros-1m.png", bytes(1 << 20))
    w("random-1m.webp", bytes(r.getrandbits(8) for _ in range(1 << 20)))


# ---------------------------------------------------------------------------------------------
# operation lists (server only)

VALID = [
    [{"type": "smart_crop", "width_in_px": 256, "height_in_px": 256}, {"type": "convert", "format": "webp"}],
    [{"type": "smart_crop", "width_in_px": 48, "height_in_px": 48, "mode": "face", "face_preset": "closeup"},
     {"type": "convert", "format": "jpeg", "quality": 80}],
    [{"type": "smart_crop", "width_in_px": 1200, "height_in_px": 630, "mode": "subject", "strategy": "entropy", "padding": 10},
     {"type": "convert", "format": "webp", "quality": 85}],
    [{"type": "smart_crop", "width_in_px": 200, "height_in_px": 200, "mode": "focal", "focal_x": 0.3, "focal_y": 0.7}],
    [{"type": "smart_crop", "width_in_px": 128, "mode": "rect", "rect": {"x": 10, "y": 10, "width": 200, "height": 200}},
     {"type": "convert", "format": "png"}],
    [{"type": "smart_crop", "width_in_px": 300, "height_in_px": 300, "mode": "trim", "threshold": 20, "pad_to_square": True,
      "pad_color": "#ffffff", "target_size": 300}],
    [{"type": "resize", "width_in_px": 300, "height_in_px": 200, "fit": "contain", "background": "#ff0000"},
     {"type": "convert", "format": "png"}],
    [{"type": "resize", "width_in_px": 640, "without_enlargement": False, "fit": "inside"}, {"type": "sharpen", "sigma": 1},
     {"type": "convert", "format": "avif", "quality": 50}],
    [{"type": "crop", "rect": {"x": 0, "y": 0, "width": 100, "height": 100}}, {"type": "blur", "sigma": 2},
     {"type": "convert", "format": "jpeg"}],
    [{"type": "crop", "gravity": "focal_point", "width": 200, "height": 100, "focal_x": 0.5, "focal_y": 0.2},
     {"type": "convert", "format": "webp"}],
    [{"type": "trim", "threshold": 30, "padding": 5, "pad_to_square": True, "pad_color": "#000"}, {"type": "convert", "format": "png"}],
    [{"type": "rotate", "angle": 90}, {"type": "flip", "direction": "horizontal"},
     {"type": "pad", "all": 10, "color": "#00ff00"}, {"type": "convert", "format": "jpeg", "background": "white"}],
    [{"type": "crop", "gravity": "attention", "width": 150, "height": 150}, {"type": "rotate", "angle": -270},
     {"type": "flip", "direction": "both"}, {"type": "pad", "top": 5, "left": 7}],
]

EXTREME = [  # allowed, or just past what is allowed: the costly corners of the schema
    [{"type": "resize", "width_in_px": 16384, "height_in_px": 16384, "without_enlargement": False}, {"type": "convert", "format": "avif"}],
    [{"type": "resize", "width_in_px": 16384, "height_in_px": 16384, "without_enlargement": False}, {"type": "convert", "format": "webp"}],
    [{"type": "resize", "width_in_px": 16383, "height_in_px": 16383, "without_enlargement": False}, {"type": "convert", "format": "webp"}],
    [{"type": "resize", "width_in_px": 16384, "height_in_px": 16384, "without_enlargement": False}, {"type": "convert", "format": "jpeg"}],
    [{"type": "resize", "width_in_px": 16384, "height_in_px": 16384, "without_enlargement": False}, {"type": "convert", "format": "png"}],
    [{"type": "resize", "width_in_px": 10000, "height_in_px": 10000, "without_enlargement": False, "fit": "fill"},
     {"type": "convert", "format": "png"}],
    [{"type": "resize", "width_in_px": 4096, "height_in_px": 4096, "without_enlargement": False}, {"type": "convert", "format": "avif", "quality": 100}],
    [{"type": "resize", "width_in_px": 4096, "height_in_px": 4096, "without_enlargement": False}, {"type": "convert", "format": "webp", "quality": 100}],
    [{"type": "smart_crop", "width_in_px": 16384, "height_in_px": 16384}, {"type": "convert", "format": "webp"}],
    [{"type": "smart_crop", "width_in_px": 16384, "height_in_px": 16384}, {"type": "convert", "format": "avif"}],
    [{"type": "smart_crop", "width_in_px": 16383, "height_in_px": 1}, {"type": "convert", "format": "webp"}],
    [{"type": "smart_crop", "width_in_px": 1, "height_in_px": 16384}, {"type": "convert", "format": "jpeg"}],
    [{"type": "pad", "all": 16384}, {"type": "convert", "format": "jpeg"}],
    [{"type": "pad", "all": 16384}, {"type": "convert", "format": "png"}],
    [{"type": "pad", "left": 16384, "right": 16384, "top": 16384, "bottom": 16384}, {"type": "pad", "all": 16384},
     {"type": "convert", "format": "jpeg"}],
    [{"type": "pad", "all": 16384}, {"type": "pad", "all": 16384}, {"type": "pad", "all": 16384}],
    [{"type": "blur", "sigma": 1000}, {"type": "convert", "format": "jpeg"}],
    [{"type": "resize", "width_in_px": 4096, "height_in_px": 4096, "without_enlargement": False}, {"type": "blur", "sigma": 300}],
    [{"type": "resize", "width_in_px": 8000, "height_in_px": 8000, "without_enlargement": False}, {"type": "blur", "sigma": 1000},
     {"type": "convert", "format": "png"}],
    [{"type": "resize", "width_in_px": 10000, "height_in_px": 10000, "without_enlargement": False}, {"type": "sharpen", "sigma": 10}],
    [{"type": "trim", "target_size": 16384, "pad_to_square": True}, {"type": "convert", "format": "webp"}],
    [{"type": "smart_crop", "mode": "trim", "width_in_px": 16384, "height_in_px": 16384, "pad_to_square": True,
      "target_size": 16384}, {"type": "convert", "format": "avif"}],
    [{"type": "crop", "gravity": "entropy", "width": 16384, "height": 16384}],
    [{"type": "crop", "rect": {"x": 1000000, "y": 1000000, "width": 1000000, "height": 1000000}}],
    [{"type": "smart_crop", "mode": "rect", "rect": {"x": 0, "y": 0, "width": 1000000, "height": 1000000}}],
    [{"type": "flip"}] * 29 + [{"type": "convert", "format": "png"}],
    [{"type": "rotate", "angle": 90}] * 30,
    [{"type": "blur", "sigma": 1000}] * 30,
    [{"type": "resize", "width_in_px": 16384, "without_enlargement": False},
     {"type": "resize", "width_in_px": 1, "without_enlargement": False}] * 15,
    [{"type": "pad", "all": 16384}] + [{"type": "sharpen", "sigma": 10}] * 28 + [{"type": "convert", "format": "jpeg"}],
    [{"type": "flip"}] * 31,
    [{"type": "flip"}] * 1000,
    [{"type": "smart_crop", "width_in_px": 256, "sensitivity": 1, "faces": "index:999999999999", "mode": "face"}],
    [{"type": "convert", "format": "webp"}, {"type": "flip"}],
    [{"type": "convert", "format": "webp"}, {"type": "convert", "format": "jpeg"}],
    [],
]

WRONG_VALUES = [None, True, False, "", "abc", "256", "1e9", "#zzz", -1, 0, 0.5, -0.0, 1.5, 3.9e9, -2**31, 2**31, 2**53 + 1,
                2**63, 2**64, -2**63 - 1, 10**30, 1e308, -1e308, 5e-324, [], [1, 2], {}, {"x": 1}, "\u0000", "\ud7ff\ue000",
                "x" * 10000, 16384, 16385, 65500, 65536, 1000, 1001, 100, 101, 255, 256, -90, 45, 360, 450]


def mutate(ops, r):
    """One random change to a valid operation list (a deep copy is changed)."""
    ops = json.loads(json.dumps(ops))
    choice = r.randrange(12)
    dicts = [j for j, o in enumerate(ops) if isinstance(o, dict)]
    if not dicts:
        ops.append({"type": "flip"})
        dicts = [len(ops) - 1]
    i = r.choice(dicts)
    op = ops[i]
    keys = [k for k in op if k != "type"] or ["type"]
    if choice <= 3:  # a field gets a wrong or extreme value
        op[r.choice(keys)] = r.choice(WRONG_VALUES)
    elif choice == 4:  # the type
        op["type"] = r.choice(["", "SMART_CROP", "smart-crop", "resize ", "exec", "flop", "convert", None, 1, ["resize"], "x" * 1000])
    elif choice == 5:  # an unknown field
        op[r.choice(["widht_in_px", "__proto__", "constructor", "Width_In_Px", "type ", "", "x" * 300, "\u00e9"])] = r.choice(WRONG_VALUES[:12])
    elif choice == 6:  # a field removed
        op.pop(r.choice(keys), None)
    elif choice == 7:  # deep nesting inside a field
        # A placeholder, expanded to text by expand_nesting (Python's json cannot nest that deep).
        op[r.choice(keys)] = f"@@nest:{r.choice([10, 100, 1000, 5000])}:{r.choice('ao')}@@"
    elif choice == 8:  # a long string
        op[r.choice(keys + ["format", "mode"])] = r.choice(["x", "\u00e9", "\U0001F600", "%s", "../"]) * r.choice([1000, 100000])
    elif choice == 9:  # the op replaced by a non-object
        ops[i] = r.choice([None, 1, "resize", [], [op], True])
    elif choice == 10:  # duplicated or shuffled operations
        ops = ops + [op] * r.choice([1, 10, 40])
        r.shuffle(ops)
    else:  # a field of another operation type
        other = r.choice(VALID + EXTREME[:20])
        if other and isinstance(other[0], dict):
            donor = r.choice(other)
            k = r.choice(list(donor))
            op[k] = donor[k]
    return ops


def expand_nesting(text):
    """Replaces the deep-nesting placeholders of mutate() with arrays or objects that deep."""
    def nested(m):
        depth, kind = int(m.group(1)), m.group(2)
        return "[" * depth + "1" + "]" * depth if kind == "a" else '{"a":' * depth + "1" + "}" * depth
    return re.sub(r'"@@nest:(\d+):([ao])@@"', nested, text)


def make_json(out, count=300):
    folder = os.path.join(out, "json")
    n = 0

    def put(name, text):
        nonlocal n
        write(folder, f"{n:03d}-{name}.json", text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        n += 1

    for i, ops in enumerate(VALID):
        put(f"valid-{i}", json.dumps(ops))
    for i, ops in enumerate(EXTREME):
        put(f"extreme-{i}", json.dumps(ops))
    # Shapes that are not lists of operations, and JSON that is not JSON.
    special = {
        "object": '{"type": "flip"}', "string": '"flip"', "number": "42", "null": "null", "true": "true", "empty": "",
        "whitespace": " \n\t ", "truncated": json.dumps(VALID[0])[:30], "trailing-garbage": json.dumps(VALID[0]) + "]]]",
        "nan": '[{"type": "blur", "sigma": NaN}]', "infinity": '[{"type": "blur", "sigma": Infinity}]',
        "big-exponent": '[{"type": "resize", "width_in_px": 1e99999}]', "neg-exponent": '[{"type": "blur", "sigma": 1e-99999}]',
        "long-number": '[{"type": "resize", "width_in_px": ' + "9" * 100000 + "}]",
        "long-fraction": '[{"type": "blur", "sigma": 1.' + "1" * 100000 + "}]",
        "duplicate-keys": '[{"type": "resize", "width_in_px": 10, "width_in_px": 16384, "type": "blur"}]',
        "bom": "\ufeff" + json.dumps(VALID[0]), "comment": "// x\n" + json.dumps(VALID[0]),
        "single-quotes": "[{'type': 'flip'}]", "unescaped-control": '[{"type": "fl\u0001ip"}]',
        "lone-surrogate": '[{"type": "\\ud800"}]', "null-byte-key": '[{"type": "flip", "\\u0000": 1}]',
        "deep-array-10000": "[" * 10000 + "]" * 10000, "deep-array-100000": "[" * 100000 + "]" * 100000,
        "deep-object-50000": '{"a":' * 50000 + "1" + "}" * 50000, "deep-unclosed-200000": "[" * 200000,
        "items-100000-flip": json.dumps([{"type": "flip"}] * 100000), "items-100000-zero": json.dumps([0] * 100000),
        "items-100000-empty-object": json.dumps([{}] * 100000), "items-60000-flip": json.dumps([{"type": "flip"}] * 60000),
        "string-1m": json.dumps([{"type": "x" * (1 << 20)}]), "string-900k": json.dumps([{"type": "flip", "direction": "y" * 900000}]),
        "many-keys-50000": json.dumps([dict({"type": "flip"}, **{f"k{i}": i for i in range(50000)})]),
        "escapes": json.dumps([{"type": "flip", "direction": "\\u0000" * 50000}]),
    }
    for name, text in special.items():
        put(name, text)
    put("invalid-utf8", b'[{"type": "fl\xff\xfeip"}]')
    put("utf16", json.dumps(VALID[0]).encode("utf-16"))
    r = rng("json")
    templates = VALID + EXTREME[:30]
    while n < count:
        ops = r.choice(templates)
        for _ in range(r.choice([1, 1, 1, 2, 3])):
            ops = mutate(ops, r)
        put("mutated", expand_nesting(json.dumps(ops)))


# ---------------------------------------------------------------------------------------------

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(repo, ".assets", "fuzz", "corpus"))
    ap.add_argument("--samples", default=os.path.join(repo, ".assets", "samples"))
    args = ap.parse_args()
    if not shutil.which("vips"):
        sys.exit("the vips command is missing (apt-get install libvips-tools, or `make bench-deps`)")
    out = args.out
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    with tempfile.TemporaryDirectory(prefix="smartcrop-corpus-") as tmp:
        base = make_base(args.samples, out, tmp)
        make_truncated(base, out)
        make_bitflip(base, out)
        make_huge_header(base, out)
        make_wrong_magic(base, out)
        make_svg_and_others(out)
        make_empty(out)
        make_json(out)
        make_bombs(out, tmp)
    counts = {c: len(os.listdir(os.path.join(out, c))) for c in sorted(os.listdir(out))}
    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out) for f in fs)
    with open(os.path.join(out, ".complete"), "w") as f:
        json.dump(counts, f)
    print(f"corpus in {out}: " + ", ".join(f"{c} {n}" for c, n in counts.items()) + f" ({size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
