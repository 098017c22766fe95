"""Pixel measurements on screenshots, with Pillow.

Rendering is deterministic (virtual clock, seeded random), so these simple
measures are meaningful: two frames of a still page are identical, a moving
page differs, and a blank page is one colour. The same functions serve the
checks (``animates``, ``interactive``, ``runs``, ``colors``) and the visual
diff of ``gallery compare``.
"""

from __future__ import annotations

import io

from PIL import Image, ImageChops

#: A pixel counts as changed when a channel moves by more than this (0-255).
PIXEL_THRESHOLD = 24
#: Width of the animated preview; preview frames are captured at this width.
PREVIEW_WIDTH = 320


def load(data: bytes | Image.Image) -> Image.Image:
    if isinstance(data, Image.Image):
        return data.convert("RGB")
    return Image.open(io.BytesIO(data)).convert("RGB")


def _changed_mask(diff: Image.Image, threshold: int) -> Image.Image:
    """A 1-channel mask: 255 where any channel of ``diff`` exceeds ``threshold``."""
    r, g, b = diff.split()
    peak = ImageChops.lighter(ImageChops.lighter(r, g), b)
    return peak.point(lambda v: 255 if v > threshold else 0)


def diff_ratio(
    a: bytes | Image.Image, b: bytes | Image.Image, threshold: int = PIXEL_THRESHOLD
) -> float:
    """Share of pixels that differ by more than ``threshold`` on some channel (0..1)."""
    ia, ib = load(a), load(b)
    if ia.size != ib.size:
        return 1.0
    mask = _changed_mask(ImageChops.difference(ia, ib), threshold)
    changed = mask.histogram()[255]
    return changed / (ia.width * ia.height)


def diff_image(
    a: bytes | Image.Image, b: bytes | Image.Image, threshold: int = PIXEL_THRESHOLD
) -> bytes:
    """A PNG showing the changed pixels in red over a faded copy of ``b``."""
    ia, ib = load(a), load(b)
    if ia.size != ib.size:
        ia = ia.resize(ib.size)
    mask = _changed_mask(ImageChops.difference(ia, ib), threshold)
    faded = Image.blend(ib, Image.new("RGB", ib.size, (255, 255, 255)), 0.7)
    faded.paste(Image.new("RGB", ib.size, (230, 0, 40)), mask=mask)
    out = io.BytesIO()
    faded.save(out, "PNG", optimize=True)
    return out.getvalue()


def _quantised(img: Image.Image) -> Image.Image:
    small = (
        img
        if img.width <= 640
        else img.resize((640, max(1, img.height * 640 // img.width)), Image.NEAREST)
    )
    return small.point(lambda v: v & 0xF8)


def distinct_colors(data: bytes | Image.Image, min_share: float = 0.001) -> int:
    """Colours (5 bits per channel) covering at least ``min_share`` of the image each."""
    img = _quantised(load(data))
    total = img.width * img.height
    colors = img.getcolors(maxcolors=total) or []
    return sum(1 for count, _ in colors if count >= min_share * total)


def content_fraction(data: bytes | Image.Image, tolerance: int = PIXEL_THRESHOLD) -> float:
    """Share of pixels that stand out from the dominant (background) colour.

    A blank or single-colour page gives 0; a dark page with a little content
    still gives a small but clearly non-zero share.
    """
    img = load(data)
    q = _quantised(img)
    colors = q.getcolors(maxcolors=q.width * q.height) or [(1, (0, 0, 0))]
    background = max(colors)[1]
    mask = _changed_mask(ImageChops.difference(q, Image.new("RGB", q.size, background)), tolerance)
    return mask.histogram()[255] / (q.width * q.height)


def animated_webp(frames: list[bytes], width: int = PREVIEW_WIDTH, duration_ms: int = 400) -> bytes:
    """A small looping animated WebP from screenshots, for the gallery grid.

    The renderer captures preview frames at ``PREVIEW_WIDTH`` already; frames of
    another width are scaled."""
    images = []
    for data in frames:
        img = Image.open(io.BytesIO(data)).convert("RGB")
        height = max(1, img.height * width // img.width)
        if img.size != (width, height):
            img = img.resize((width, height), Image.LANCZOS)
        images.append(img)
    out = io.BytesIO()
    images[0].save(
        out,
        "WEBP",
        save_all=True,
        append_images=images[1:],
        duration=duration_ms,
        loop=0,
        quality=70,
        method=4,
    )
    return out.getvalue()
