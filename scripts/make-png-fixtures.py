#!/usr/bin/env python3
"""Makes the PNG fixtures of Tests/Fixtures/png: small PNGs of every kind a PNG reader meets, and
for each the pixels Pillow gives, `Image.open(path).convert("RGB")`, as a uint8 [H, W, 3] .npy.

The PNGs are written by the small encoder below rather than by Pillow, which cannot write 2- or
4-bit grey, 16-bit colour, 16-bit grey + alpha or Adam7: rows cycle through the five filter
types, and some files split their image data over several IDAT chunks. Two files are Pillow's
own `save`. Only the .npy side comes from Pillow. The tests read both and need no Python.

    python3 -m venv /tmp/pillow-venv && /tmp/pillow-venv/bin/pip install pillow numpy
    /tmp/pillow-venv/bin/python scripts/make-png-fixtures.py [Tests/Fixtures/png]
"""
import io
import os
import struct
import sys
import warnings
import zlib

import numpy as np
import PIL
from PIL import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7: (x start, y start, x step, y step) of each pass.
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_row(samples, depth):
    """One scanline's samples (a flat list) as bytes at `depth` bits each, big-endian."""
    if depth == 16:
        return b"".join(struct.pack(">H", int(v)) for v in samples)
    if depth == 8:
        return bytes(int(v) for v in samples)
    out, acc, bits = bytearray(), 0, 0
    for v in samples:
        acc = (acc << depth) | int(v)
        bits += depth
        if bits == 8:
            out.append(acc)
            acc, bits = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp):
    """Filters each row with type (row index mod 5): None, Sub, Up, Average, Paeth."""
    out, previous = bytearray(), None
    for y, row in enumerate(rows):
        kind = y % 5
        prior = previous if previous is not None else bytes(len(row))
        filtered = bytearray(len(row))
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prior[i]
            c = prior[i - bpp] if i >= bpp else 0
            predictor = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
            filtered[i] = (x - predictor) & 0xFF
        out += bytes([kind]) + filtered
        previous = row
    return bytes(out)


def encode(samples, depth, color_type, palette=None, trns=None, interlace=False, extra=(), idat_pieces=1):
    """A PNG of `samples` ([H, W, channels] integers) at `depth` bits of `color_type`."""
    h, w = samples.shape[:2]
    channels = CHANNELS[color_type]
    bpp = max(1, depth * channels // 8)
    flat = samples.reshape(h, w, channels)
    if interlace:
        data = b""
        for x0, y0, dx, dy in ADAM7:
            sub = flat[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                data += filter_rows([pack_row(r.reshape(-1), depth) for r in sub], bpp)
    else:
        data = filter_rows([pack_row(r.reshape(-1), depth) for r in flat], bpp)
    compressed = zlib.compress(data, 9)
    out = SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0))
    for kind, body in extra:
        out += chunk(kind, body)
    if palette is not None:
        out += chunk(b"PLTE", bytes(int(v) for v in np.asarray(palette).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    step = -(-len(compressed) // idat_pieces)
    for i in range(0, len(compressed), step):
        out += chunk(b"IDAT", compressed[i : i + step])
    return out + chunk(b"IEND", b"")


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../Tests/Fixtures/png")
    os.makedirs(target, exist_ok=True)
    # Pillow suggests RGBA for a palette with tRNS; convert("RGB") is what is wanted here.
    warnings.filterwarnings("ignore", message="Palette images with Transparency")
    rng = np.random.default_rng(20261207)

    def noise(h, w, c, high):
        return rng.integers(0, high, size=(h, w, c), endpoint=True)

    def wide16(h, w, c):
        """16-bit samples: a third below 256 (kept by the clip), the rest anywhere."""
        v = rng.integers(0, 65535, size=(h, w, c), endpoint=True)
        small = rng.integers(0, 3, size=(h, w, c)) == 0
        return np.where(small, rng.integers(0, 255, size=(h, w, c), endpoint=True), v)

    palette256 = rng.integers(0, 255, size=(256, 3), endpoint=True)
    kinds = {}
    # name: (samples, depth, colour type, keyword arguments of encode)
    kinds["rgb8"] = (noise(7, 13, 3, 255), 8, 2, {})
    kinds["rgb8_multi_idat"] = (noise(9, 10, 3, 255), 8, 2, {"idat_pieces": 4})
    kinds["rgb8_trns"] = (noise(5, 6, 3, 255), 8, 2, {"trns": struct.pack(">3H", 1, 2, 3)})
    # gAMA, cHRM-free sRGB and sBIT: Pillow applies none of them to the pixels.
    kinds["rgb8_gamma_sbit"] = (
        noise(5, 7, 3, 255), 8, 2,
        {"extra": [(b"gAMA", struct.pack(">I", 100000)), (b"sBIT", bytes([5, 6, 5])), (b"tEXt", b"Comment\0x")]},
    )
    kinds["rgba8"] = (noise(7, 11, 4, 255), 8, 6, {})
    kinds["rgb16"] = (wide16(6, 9, 3), 16, 2, {})
    kinds["rgba16"] = (wide16(5, 7, 4), 16, 6, {})
    kinds["gray1"] = (noise(7, 13, 1, 1), 1, 0, {})
    kinds["gray2"] = (noise(7, 13, 1, 3), 2, 0, {})
    kinds["gray4"] = (noise(7, 13, 1, 15), 4, 0, {})
    kinds["gray8"] = (noise(7, 13, 1, 255), 8, 0, {})
    kinds["gray8_trns"] = (noise(4, 5, 1, 255), 8, 0, {"trns": struct.pack(">H", 7)})
    kinds["gray16"] = (wide16(6, 9, 1), 16, 0, {})
    kinds["gray_alpha8"] = (noise(6, 9, 2, 255), 8, 4, {})
    kinds["gray_alpha16"] = (wide16(6, 9, 2), 16, 4, {})
    kinds["palette1"] = (noise(7, 13, 1, 1), 1, 3, {"palette": palette256[:2]})
    kinds["palette2"] = (noise(7, 13, 1, 3), 2, 3, {"palette": palette256[:4]})
    kinds["palette4"] = (noise(7, 13, 1, 15), 4, 3, {"palette": palette256[:16]})
    kinds["palette8"] = (noise(8, 12, 1, 255), 8, 3, {"palette": palette256})
    kinds["palette8_trns"] = (
        noise(8, 12, 1, 255), 8, 3, {"palette": palette256, "trns": bytes(range(0, 256, 2))})
    # Indices past the last PLTE entry: Pillow's palette is black there.
    kinds["palette8_short"] = (noise(6, 8, 1, 9), 8, 3, {"palette": palette256[:5]})
    kinds["palette4_short_trns"] = (noise(6, 9, 1, 15), 4, 3, {"palette": palette256[:3], "trns": bytes([0, 90])})
    # Adam7, including sizes where some passes are empty.
    kinds["rgb8_adam7"] = (noise(11, 13, 3, 255), 8, 2, {"interlace": True})
    kinds["rgba16_adam7"] = (wide16(9, 10, 4), 16, 6, {"interlace": True})
    kinds["gray2_adam7"] = (noise(9, 11, 1, 3), 2, 0, {"interlace": True})
    kinds["gray16_adam7"] = (wide16(7, 6, 1), 16, 0, {"interlace": True})
    kinds["palette4_adam7"] = (noise(10, 9, 1, 15), 4, 3, {"palette": palette256[:16], "interlace": True})
    kinds["gray_alpha8_adam7"] = (noise(3, 2, 2, 255), 8, 4, {"interlace": True})
    kinds["rgb8_adam7_1x1"] = (noise(1, 1, 3, 255), 8, 2, {"interlace": True})

    files = {}
    for name, (samples, depth, color_type, options) in kinds.items():
        files[name] = encode(samples, depth, color_type, **options)
    # Two of Pillow's own files (its zlib settings, its filter choice).
    for name, image in [
        ("pillow_rgb", Image.fromarray(noise(20, 30, 3, 255).astype(np.uint8), "RGB")),
        ("pillow_rgba_optimized", Image.fromarray(noise(12, 17, 4, 255).astype(np.uint8), "RGBA")),
    ]:
        buffer = io.BytesIO()
        image.save(buffer, "PNG", optimize=name.endswith("optimized"))
        files[name] = buffer.getvalue()

    for name, data in sorted(files.items()):
        path = os.path.join(target, name + ".png")
        with open(path, "wb") as f:
            f.write(data)
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
        np.save(os.path.join(target, name + ".rgb.npy"), rgb)
    print(f"{len(files)} PNGs and their convert('RGB') pixels (Pillow {PIL.__version__}) in {target}")


if __name__ == "__main__":
    main()
