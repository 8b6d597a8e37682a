"""Sample and paint one street-like scene: stuff background plus instance objects.

``make_scene(rng, width, height)`` returns the RGB image and the Cityscapes polygon objects in
drawing order (stuff first, then objects far to near, so later objects occlude earlier ones,
exactly as cityscapesscripts rasterises them). Polygons are integer pixel coordinates clamped
to the image; objects may be cut by the image border.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from detkit.data.synthetic.shapes import SHAPES, ShapeFrame, ShapeKind

__all__ = ["INSTANCE_LABELS", "SceneObject", "make_scene"]

# The 8 evaluated Cityscapes instance classes, drawn with equal probability.
INSTANCE_LABELS = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
_IGNORED_LABELS = ("caravan", "trailer")
_CROWD_LABELS = ("persongroup", "cargroup")


@dataclass(frozen=True)
class SceneObject:
    """One entry of the Cityscapes ``objects`` list: a label and its ``[[x, y], ...]`` polygon."""

    label: str
    polygon: list[list[int]]

    def to_json(self) -> dict:
        return {"label": self.label, "polygon": self.polygon}


def _clamped_polygon(points: list[tuple[float, float]], width: int, height: int) -> list[list[int]]:
    return [
        [int(min(max(round(x), 0), width - 1)), int(min(max(round(y), 0), height - 1))]
        for x, y in points
    ]


def _paint_background(
    rng: np.random.Generator, width: int, height: int, horizon: int
) -> tuple[Image.Image, list[SceneObject]]:
    """Sky gradient, buildings along the horizon, road and a sidewalk."""
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    sky_top, sky_low = np.array([70, 130, 200], np.float32), np.array([190, 215, 235], np.float32)
    canvas = np.broadcast_to(
        sky_top + (sky_low - sky_top) * np.minimum(rows * 2.0, 1.0), (height, width, 3)
    )
    image = Image.fromarray(canvas.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    objects = [SceneObject("sky", [[0, 0], [width - 1, 0], [width - 1, horizon], [0, horizon]])]

    x = int(rng.integers(-width // 10, 0))
    while x < width:
        bw = int(rng.uniform(0.08, 0.22) * width)
        top = int(rng.uniform(0.05, 0.75) * horizon)
        box = [max(x, 0), top, min(x + bw, width - 1), horizon]
        x += bw + int(rng.integers(0, width // 20 + 1))
        if box[2] <= box[0]:
            continue
        tone = int(rng.integers(90, 170))
        colour = (tone, int(tone * rng.uniform(0.85, 1.0)), int(tone * rng.uniform(0.75, 1.0)))
        draw.rectangle(box, fill=colour)
        step = max(6, height // 25)
        for wy in range(top + step // 2, horizon - step, step):
            for wx in range(box[0] + step // 2, box[2] - step // 2, step):
                draw.rectangle([wx, wy, wx + step // 3, wy + step // 2], fill=(60, 70, 90))
        objects.append(
            SceneObject(
                "building", [[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]]
            )
        )

    road = [[0, horizon], [width - 1, horizon], [width - 1, height - 1], [0, height - 1]]
    draw.polygon([tuple(p) for p in road], fill=(95, 95, 100))
    lane_y = np.linspace(horizon + 4, height - 1, 6).astype(int)
    for y0, y1 in zip(lane_y[:-1:2], lane_y[1::2]):
        draw.line(
            [(width // 2, y0), (width // 2, y1)], fill=(230, 230, 230), width=max(2, width // 200)
        )
    objects.append(SceneObject("road", road))
    walk = _clamped_polygon(
        [(0, horizon), (0.3 * width, horizon), (0, horizon + 0.35 * (height - horizon))],
        width,
        height,
    )
    draw.polygon([tuple(p) for p in walk], fill=(175, 150, 170))
    objects.append(SceneObject("sidewalk", walk))
    return image, objects


def _sample_labels(rng: np.random.Generator, instances: tuple[int, int]) -> list[str]:
    if rng.random() < 0.1:  # an image without instances (maybe an ignored object)
        return [str(rng.choice(_IGNORED_LABELS))] if rng.random() < 0.5 else []
    count = int(rng.integers(instances[0], instances[1] + 1))
    labels = [str(label) for label in rng.choice(INSTANCE_LABELS, size=count)]
    if rng.random() < 0.2:
        labels.append(str(rng.choice(_CROWD_LABELS)))
    if rng.random() < 0.25:
        labels.append(str(rng.choice(_IGNORED_LABELS)))
    return labels


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over the smaller of two xyxy boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(smaller, 1e-6)


def _place(
    rng: np.random.Generator,
    kind: ShapeKind,
    width: int,
    height: int,
    horizon: int,
    placed: list[tuple[float, float, float, float]],
) -> ShapeFrame:
    """Pick a position and size; retry a few times to keep most of each object visible."""
    us = [u for u, _ in kind.outline]
    frame = ShapeFrame(0.0, 0.0, 1.0)
    for _ in range(20):
        bottom = rng.uniform(horizon + 0.2 * (height - horizon), height * 1.04)
        depth = (bottom - horizon) / (height - horizon)
        h = rng.uniform(*kind.height_range) * height * (0.75 + 0.25 * depth)
        cx = rng.uniform(-0.04, 1.04) * width
        frame = ShapeFrame(cx, bottom, h)
        box = (cx + min(us) * h, bottom - h, cx + max(us) * h, bottom)
        if all(_overlap(box, other) < 0.25 for other in placed):
            break
    placed.append(
        (
            frame.cx + min(us) * frame.h,
            frame.bottom - frame.h,
            frame.cx + max(us) * frame.h,
            frame.bottom,
        )
    )
    return frame


def _paint_object(
    image: Image.Image,
    rng: np.random.Generator,
    kind: ShapeKind,
    frame: ShapeFrame,
    polygon: list[list[int]],
) -> None:
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    x0, y0 = min(xs), min(ys)
    size = (max(xs) - x0 + 1, max(ys) - y0 + 1)
    red, green, blue = (int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in kind.colour)
    colour = (red, green, blue)
    patch = Image.new("RGB", size, colour)
    kind.paint(ImageDraw.Draw(patch), ShapeFrame(frame.cx - x0, frame.bottom - y0, frame.h), colour)
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in polygon], fill=255)
    image.paste(patch, (x0, y0), mask)


def make_scene(
    rng: np.random.Generator,
    width: int,
    height: int,
    noise: int = 6,
    instances: tuple[int, int] = (3, 8),
) -> tuple[np.ndarray, list[SceneObject]]:
    """Sample and paint one scene.

    Args:
        rng: the random generator (the scene is a pure function of its state).
        width, height: image size in pixels.
        noise: amplitude of the uniform per-pixel noise added at the end.
        instances: ``(min, max)`` number of evaluated-class objects in an image with instances
            (about 10% of images have none; crowd and ignored objects come on top).

    Returns:
        ``(image, objects)``: ``image`` an ``(height, width, 3)`` uint8 RGB array; ``objects`` the
        Cityscapes polygon objects in drawing order (stuff first, then instances far to near).
    """
    horizon = int(rng.uniform(0.38, 0.5) * height)
    image, objects = _paint_background(rng, width, height, horizon)
    labels = _sample_labels(rng, instances)
    placed: list[tuple[float, float, float, float]] = []
    frames = [
        (label, _place(rng, SHAPES[label], width, height, horizon, placed)) for label in labels
    ]
    frames.sort(key=lambda item: item[1].bottom)  # far (higher up) first, near objects occlude
    for label, frame in frames:
        kind = SHAPES[label]
        polygon = _clamped_polygon(frame.pts(kind.outline), width, height)
        _paint_object(image, rng, kind, frame, polygon)
        objects.append(SceneObject(label, polygon))
    pixels = np.asarray(image, dtype=np.int16)
    if noise > 0:
        pixels = pixels + rng.integers(-noise, noise + 1, size=pixels.shape, dtype=np.int16)
    return np.clip(pixels, 0, 255).astype(np.uint8), objects
