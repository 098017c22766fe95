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

#: A pixel counts as changed when a channel moves by more than this (0-255). JPEG
#: preview frames need this much to keep compression noise out of "motion".
PIXEL_THRESHOLD = 24
#: Brightness change (0-255) that counts in lossless screenshots of a deterministic
#: render, where a still page gives identical pixels: a faint glow or a slow ripple
#: moves a few levels only (see ``faint_diff_ratio``).
LOSSLESS_THRESHOLD = 6

#: A rectangle of an image: x, y, width, height in that image's pixels.
Rect = tuple[int, int, int, int]
#: Width of the animated preview; preview frames are kept at this width.
PREVIEW_WIDTH = 320
#: JPEG quality of a preview frame as kept (and of the full-size capture it comes from).
PREVIEW_QUALITY = 70


def load(data: bytes | Image.Image) -> Image.Image:
    if isinstance(data, Image.Image):
        return data.convert("RGB")
    return Image.open(io.BytesIO(data)).convert("RGB")


def _changed_mask(diff: Image.Image, threshold: int) -> Image.Image:
    """A 1-channel mask: 255 where any channel of ``diff`` exceeds ``threshold``."""
    r, g, b = diff.split()
    peak = ImageChops.lighter(ImageChops.lighter(r, g), b)
    return peak.point(lambda v: 255 if v > threshold else 0)


def _keep(size: tuple[int, int], exclude: list[Rect] | tuple[Rect, ...]) -> Image.Image | None:
    """A 1-channel mask, 255 outside the ``exclude`` rectangles (None: nothing excluded)."""
    if not exclude:
        return None
    keep = Image.new("L", size, 255)
    for x, y, w, h in exclude:
        keep.paste(0, (max(0, x), max(0, y), max(0, x + w), max(0, y + h)))
    return keep


def diff_ratio(
    a: bytes | Image.Image,
    b: bytes | Image.Image,
    threshold: int = PIXEL_THRESHOLD,
    exclude: list[Rect] | tuple[Rect, ...] = (),
) -> float:
    """Share of pixels that differ by more than ``threshold`` on some channel (0..1),
    counting only pixels outside the ``exclude`` rectangles (the share is of all pixels)."""
    ia, ib = load(a), load(b)
    if ia.size != ib.size:
        return 1.0
    mask = _changed_mask(ImageChops.difference(ia, ib), threshold)
    if (keep := _keep(ia.size, exclude)) is not None:
        mask = ImageChops.multiply(mask, keep)
    return mask.histogram()[255] / (ia.width * ia.height)


def faint_diff_ratio(
    a: bytes | Image.Image, b: bytes | Image.Image, exclude: list[Rect] | tuple[Rect, ...] = ()
) -> float:
    """``diff_ratio`` for lossless frames, closer to what an eye notices: a pixel counts
    as changed when its brightness moved by more than ``LOSSLESS_THRESHOLD`` (a faint
    pulse does) or a channel by more than ``PIXEL_THRESHOLD`` (a change of hue does).
    A near-black blue that moves on black does neither."""
    ia, ib = load(a), load(b)
    if ia.size != ib.size:
        return 1.0
    channel = _changed_mask(ImageChops.difference(ia, ib), PIXEL_THRESHOLD)
    luma = ImageChops.difference(ia.convert("L"), ib.convert("L"))
    mask = ImageChops.lighter(channel, luma.point(lambda v: 255 if v > LOSSLESS_THRESHOLD else 0))
    if (keep := _keep(ia.size, exclude)) is not None:
        mask = ImageChops.multiply(mask, keep)
    return mask.histogram()[255] / (ia.width * ia.height)


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


def content_fraction(
    data: bytes | Image.Image,
    tolerance: int = PIXEL_THRESHOLD,
    exclude: list[Rect] | tuple[Rect, ...] = (),
) -> float:
    """Share of pixels that stand out from the dominant (background) colour, outside
    the ``exclude`` rectangles (the share is of all pixels).

    A blank or single-colour page gives 0; a dark page with a little content
    still gives a small but clearly non-zero share.
    """
    img = load(data)
    q = _quantised(img)
    colors = q.getcolors(maxcolors=q.width * q.height) or [(1, (0, 0, 0))]
    background = max(colors)[1]
    mask = _changed_mask(ImageChops.difference(q, Image.new("RGB", q.size, background)), tolerance)
    if exclude:
        f = q.width / img.width  # _quantised may have scaled the image down
        scaled = [
            (int(x * f), int(y * f), int(w * f) + 1, int(h * f) + 1) for x, y, w, h in exclude
        ]
        mask = ImageChops.multiply(mask, _keep(q.size, scaled))
    return mask.histogram()[255] / (q.width * q.height)


def preview_frame(capture: bytes, width: int = PREVIEW_WIDTH) -> bytes:
    """A preview frame (JPEG, ``width`` wide) from a full-size JPEG capture.

    Scaled here, not by Chromium: a capture that asks the compositor for a scaled
    clip re-rasters the page at that scale and back, and under load the next
    full-size shot now and then showed the quarter-size picture in its corner.
    The JPEG decoder scales by 1/2, 1/4 or 1/8 while it decodes (``draft``): under
    a millisecond for a 1280x720 capture, where a full decode alone takes about six.
    """
    with Image.open(io.BytesIO(capture)) as img:
        height = max(1, round(img.height * width / img.width))
        img.draft("RGB", (width, height))
        frame = img.convert("RGB")
    if frame.size != (width, height):
        frame = frame.resize((width, height), Image.BOX)
    out = io.BytesIO()
    frame.save(out, "JPEG", quality=PREVIEW_QUALITY)
    return out.getvalue()


#: How long each preview frame shows. Pillow merges a run of identical frames into one
#: that lasts as long as all of them: a frame's place is its start time over this.
PREVIEW_FRAME_MS = 400


def animated_webp(
    frames: list[bytes], width: int = PREVIEW_WIDTH, duration_ms: int = PREVIEW_FRAME_MS
) -> bytes:
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


def preview_frames(data: bytes, count: int) -> list[Image.Image]:
    """The ``count`` frames of a preview as captured, identical runs unmerged (a preview of
    frames all alike is saved as one still image, which stands for every capture)."""
    out: list[Image.Image] = []
    with Image.open(io.BytesIO(data)) as anim:
        frames = getattr(anim, "n_frames", 1)
        for k in range(frames):
            anim.seek(k)
            frame = anim.convert("RGB")
            if frames == 1:
                return [frame] * count
            duration = anim.info.get("duration") or PREVIEW_FRAME_MS
            out += [frame] * max(1, round(duration / PREVIEW_FRAME_MS))
    return out[:count]
