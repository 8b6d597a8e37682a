"""Outlines and paint of the synthetic street objects, one per Cityscapes label.

Shapes live in a unit frame: ``u`` to the right and ``v`` up, both in units of the object's
height, with ``(0, 0)`` the bottom centre (where the object touches the road). ``ShapeFrame``
maps them to image pixels (``x = cx + u * h``, ``y = bottom - v * h``). Every class gets its own
silhouette, colour and texture so a detector can tell them apart:

=============  =========================================================================
person         tall and narrow, head on top, crimson shirt with dark stripes, skin head
rider          person on a two-wheeler, orange jacket, white helmet, black wheels
car            wide and low, cabin with light-blue windows, black wheels
truck          tall cargo box with a lower cab, dark green with a grid texture
bus            long tall box, yellow with a row of dark windows
train          very long, purple with a white stripe and windows
motorcycle     small, magenta tank and seat between two big black wheels
bicycle        cyan frame between two thin black wheel rings
caravan        (ignored in evaluation) beige box with a rounded roof
trailer        (ignored in evaluation) low brown flat-bed with one wheel
persongroup    crowd of heads and shoulders in person colours
cargroup       row of car roofs in car colours
=============  =========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

__all__ = ["ShapeFrame", "ShapeKind", "SHAPES"]

UnitPoints = list[tuple[float, float]]


@dataclass(frozen=True)
class ShapeFrame:
    """Maps unit coordinates of one object to pixel coordinates (of an image or of a patch)."""

    cx: float
    bottom: float
    h: float

    def px(self, u: float, v: float) -> tuple[float, float]:
        return self.cx + u * self.h, self.bottom - v * self.h

    def pts(self, unit: UnitPoints) -> list[tuple[float, float]]:
        return [self.px(u, v) for u, v in unit]

    def box(self, u0: float, v0: float, u1: float, v1: float) -> list[float]:
        """Pixel ``[x0, y0, x1, y1]`` of the unit box with corners ``(u0, v0)``, ``(u1, v1)``."""
        x0, y0 = self.px(u0, v1)
        x1, y1 = self.px(u1, v0)
        return [x0, y0, x1, y1]


def arc(cu: float, cv: float, r: float, deg0: float, deg1: float, n: int = 8) -> UnitPoints:
    """Points on a circle of centre ``(cu, cv)`` from angle ``deg0`` to ``deg1``
    (counter-clockwise)."""
    angles = np.linspace(math.radians(deg0), math.radians(deg1), n)
    return [(cu + r * math.cos(a), cv + r * math.sin(a)) for a in angles]


Painter = Callable[[ImageDraw.ImageDraw, ShapeFrame, tuple[int, int, int]], None]


@dataclass(frozen=True)
class ShapeKind:
    """One drawable class: its Cityscapes label, size range and look.

    Attributes:
        label: Cityscapes label written to the polygon JSON (``'person'``, ``'cargroup'``, ...).
        height_range: object height as fractions of the image height ``(low, high)``.
        colour: base RGB colour (jittered per object).
        outline: unit-frame polygon of the silhouette (counter-clockwise not required).
        paint: draws the texture/details on a patch already filled with the base colour.
    """

    label: str
    height_range: tuple[float, float]
    colour: tuple[int, int, int]
    outline: UnitPoints
    paint: Painter


def _darker(colour: tuple[int, int, int], f: float = 0.55) -> tuple[int, int, int]:
    return tuple(int(c * f) for c in colour)  # type: ignore[return-value]


def _wheel(
    draw: ImageDraw.ImageDraw, f: ShapeFrame, cu: float, cv: float, r: float, ring: bool = False
) -> None:
    x0, y0 = f.px(cu - r, cv + r)
    x1, y1 = f.px(cu + r, cv - r)
    if ring:
        draw.ellipse([x0, y0, x1, y1], outline=(15, 15, 15), width=max(2, int(0.04 * f.h)))
    else:
        draw.ellipse([x0, y0, x1, y1], fill=(20, 20, 20))
        r2 = r * 0.4
        draw.ellipse(f.box(cu - r2, cv - r2, cu + r2, cv + r2), fill=(150, 150, 150))


_PERSON = (
    [
        (-0.15, 0.0),
        (-0.03, 0.0),
        (0.0, 0.3),
        (0.03, 0.0),
        (0.15, 0.0),
        (0.13, 0.5),
        (0.19, 0.77),
        (0.06, 0.8),
    ]
    + arc(0.0, 0.89, 0.095, -50, 230, 10)
    + [(-0.06, 0.8), (-0.19, 0.77), (-0.13, 0.5)]
)


def _paint_person(draw: ImageDraw.ImageDraw, f: ShapeFrame, colour: tuple[int, int, int]) -> None:
    for k in range(6):
        v = 0.45 + 0.055 * k
        draw.rectangle(f.box(-0.3, v, 0.3, v + 0.025), fill=_darker(colour))
    draw.rectangle(f.box(-0.3, 0.0, 0.3, 0.42), fill=(40, 40, 70))  # trousers
    draw.ellipse(f.box(-0.1, 0.79, 0.1, 0.99), fill=(235, 190, 160))  # head


_RIDER = (
    [(-0.5, 0.16)]
    + arc(-0.3, 0.17, 0.18, 180, 360, 6)
    + arc(0.3, 0.17, 0.18, 180, 360, 6)
    + [(0.5, 0.2), (0.38, 0.42), (0.22, 0.62), (0.12, 0.78)]
    + arc(0.02, 0.9, 0.1, -40, 220, 9)
    + [(-0.12, 0.74), (-0.16, 0.45), (-0.4, 0.35)]
)


def _paint_rider(draw: ImageDraw.ImageDraw, f: ShapeFrame, colour: tuple[int, int, int]) -> None:
    _wheel(draw, f, -0.3, 0.17, 0.18)
    _wheel(draw, f, 0.3, 0.17, 0.18)
    for k in range(5):
        u = -0.2 + 0.09 * k
        draw.rectangle(f.box(u, 0.45, u + 0.035, 0.8), fill=_darker(colour, 0.7))
    draw.pieslice(f.box(-0.1, 0.8, 0.14, 1.02), 180, 360, fill=(245, 245, 245))  # helmet


_CAR = [
    (-0.98, 0.1),
    (-0.98, 0.45),
    (-0.62, 0.52),
    (-0.4, 0.92),
    (0.38, 0.92),
    (0.62, 0.52),
    (0.98, 0.46),
    (0.98, 0.1),
    (0.78, 0.1),
    (0.72, 0.0),
    (0.5, 0.0),
    (0.44, 0.1),
    (-0.44, 0.1),
    (-0.5, 0.0),
    (-0.72, 0.0),
    (-0.78, 0.1),
]


def _paint_car(draw: ImageDraw.ImageDraw, f: ShapeFrame, colour: tuple[int, int, int]) -> None:
    draw.polygon(
        f.pts([(-0.52, 0.55), (-0.36, 0.85), (-0.02, 0.85), (-0.02, 0.55)]), fill=(170, 210, 240)
    )
    draw.polygon(
        f.pts([(0.04, 0.55), (0.04, 0.85), (0.34, 0.85), (0.52, 0.55)]), fill=(170, 210, 240)
    )
    draw.rectangle(f.box(-0.98, 0.3, 0.98, 0.34), fill=_darker(colour))
    _wheel(draw, f, -0.61, 0.12, 0.13)
    _wheel(draw, f, 0.61, 0.12, 0.13)


_TRUCK = [
    (-1.1, 0.1),
    (-1.1, 1.0),
    (0.45, 1.0),
    (0.45, 0.7),
    (0.85, 0.7),
    (1.1, 0.4),
    (1.1, 0.1),
    (0.9, 0.1),
    (0.85, 0.0),
    (0.6, 0.0),
    (0.55, 0.1),
    (-0.55, 0.1),
    (-0.6, 0.0),
    (-0.85, 0.0),
    (-0.9, 0.1),
]


def _paint_truck(draw: ImageDraw.ImageDraw, f: ShapeFrame, colour: tuple[int, int, int]) -> None:
    dark = _darker(colour)
    for k in range(1, 8):
        draw.line(
            [f.px(-1.1 + 0.2 * k, 0.2), f.px(-1.1 + 0.2 * k, 1.0)],
            fill=dark,
            width=max(1, int(0.02 * f.h)),
        )
    for k in range(1, 4):
        draw.line(
            [f.px(-1.1, 0.2 + 0.2 * k), f.px(0.45, 0.2 + 0.2 * k)],
            fill=dark,
            width=max(1, int(0.02 * f.h)),
        )
    draw.polygon(
        f.pts([(0.55, 0.45), (0.55, 0.65), (0.82, 0.65), (0.98, 0.45)]), fill=(180, 220, 235)
    )
    _wheel(draw, f, -0.72, 0.12, 0.13)
    _wheel(draw, f, 0.72, 0.12, 0.13)


_BUS = [
    (-1.5, 0.08),
    (-1.5, 0.9),
    (-1.42, 1.0),
    (1.42, 1.0),
    (1.5, 0.9),
    (1.5, 0.08),
    (1.15, 0.08),
    (1.1, 0.0),
    (0.85, 0.0),
    (0.8, 0.08),
    (-0.8, 0.08),
    (-0.85, 0.0),
    (-1.1, 0.0),
    (-1.15, 0.08),
]


def _paint_bus(draw: ImageDraw.ImageDraw, f: ShapeFrame, colour: tuple[int, int, int]) -> None:
    for k in range(7):
        u = -1.4 + 0.4 * k
        draw.rectangle(f.box(u, 0.55, u + 0.3, 0.88), fill=(40, 50, 60))
    draw.rectangle(f.box(-1.5, 0.42, 1.5, 0.47), fill=(200, 60, 30))
    _wheel(draw, f, -0.98, 0.11, 0.12)
    _wheel(draw, f, 0.98, 0.11, 0.12)


_TRAIN = [(-1.8, 0.05), (-1.8, 0.92), (1.45, 0.92), (1.8, 0.55), (1.8, 0.05)]


def _paint_train(draw: ImageDraw.ImageDraw, f: ShapeFrame, colour: tuple[int, int, int]) -> None:
    draw.rectangle(f.box(-1.8, 0.3, 1.8, 0.38), fill=(240, 240, 240))
    for k in range(8):
        u = -1.7 + 0.4 * k
        draw.rectangle(f.box(u, 0.5, u + 0.25, 0.8), fill=(220, 230, 250))
    draw.rectangle(f.box(-1.8, 0.05, 1.8, 0.12), fill=(30, 30, 30))


_MOTORCYCLE = (
    [(-0.62, 0.2)]
    + arc(-0.4, 0.22, 0.22, 180, 360, 6)
    + arc(0.4, 0.22, 0.22, 180, 360, 6)
    + [
        (0.62, 0.25),
        (0.5, 0.55),
        (0.42, 0.85),
        (0.3, 0.85),
        (0.25, 0.6),
        (-0.1, 0.62),
        (-0.45, 0.55),
    ]
)


def _paint_motorcycle(
    draw: ImageDraw.ImageDraw, f: ShapeFrame, colour: tuple[int, int, int]
) -> None:
    _wheel(draw, f, -0.4, 0.22, 0.22)
    _wheel(draw, f, 0.4, 0.22, 0.22)
    draw.rectangle(f.box(-0.45, 0.5, -0.05, 0.6), fill=(25, 25, 25))  # seat
    draw.line(
        [f.px(0.36, 0.85), f.px(0.48, 0.85)], fill=(200, 200, 200), width=max(1, int(0.05 * f.h))
    )


_BICYCLE = (
    [(-0.72, 0.28)]
    + arc(-0.45, 0.27, 0.27, 180, 360, 6)
    + arc(0.45, 0.27, 0.27, 180, 360, 6)
    + [
        (0.72, 0.3),
        (0.55, 0.62),
        (0.42, 0.9),
        (0.3, 0.9),
        (0.3, 0.62),
        (-0.25, 0.7),
        (-0.45, 0.72),
        (-0.55, 0.6),
    ]
)


def _paint_bicycle(draw: ImageDraw.ImageDraw, f: ShapeFrame, colour: tuple[int, int, int]) -> None:
    _wheel(draw, f, -0.45, 0.27, 0.25, ring=True)
    _wheel(draw, f, 0.45, 0.27, 0.25, ring=True)
    width = max(2, int(0.05 * f.h))
    frame = [(-0.45, 0.27), (-0.15, 0.62), (0.38, 0.62), (0.45, 0.27), (0.05, 0.27), (-0.15, 0.62)]
    draw.line(f.pts(frame), fill=_darker(colour, 0.5), width=width)


_CARAVAN = (
    [(-1.2, 0.1), (-1.2, 0.8)]
    + arc(-0.95, 0.8, 0.25, 180, 90, 5)
    + arc(0.95, 0.8, 0.25, 90, 0, 5)
    + [(1.2, 0.1), (0.2, 0.1), (0.15, 0.0), (-0.15, 0.0), (-0.2, 0.1)]
)


def _paint_caravan(draw: ImageDraw.ImageDraw, f: ShapeFrame, colour: tuple[int, int, int]) -> None:
    draw.rectangle(f.box(-1.2, 0.45, 1.2, 0.52), fill=(120, 70, 40))
    draw.ellipse(f.box(-0.8, 0.6, -0.3, 0.85), fill=(90, 90, 90))
    _wheel(draw, f, 0.0, 0.1, 0.1)


_TRAILER = [
    (-1.3, 0.15),
    (-1.3, 0.45),
    (1.3, 0.45),
    (1.3, 0.15),
    (0.15, 0.15),
    (0.1, 0.0),
    (-0.1, 0.0),
    (-0.15, 0.15),
]


def _paint_trailer(draw: ImageDraw.ImageDraw, f: ShapeFrame, colour: tuple[int, int, int]) -> None:
    for k in range(13):
        u = -1.3 + 0.2 * k
        draw.line(
            [f.px(u, 0.15), f.px(u, 0.45)], fill=_darker(colour, 0.6), width=max(1, int(0.03 * f.h))
        )
    _wheel(draw, f, 0.0, 0.1, 0.1)


def _group_outline(bump_us: list[float], bump_v: float, r: float, width: float) -> UnitPoints:
    points: UnitPoints = [(width / 2, 0.0)]
    for u in sorted(bump_us, reverse=True):
        points += arc(u, bump_v, r, 0, 180, 7)
    return points + [(-width / 2, 0.0)]


_PERSON_HEADS = [-1.2, -0.75, -0.3, 0.15, 0.6, 1.05]
_PERSONGROUP = _group_outline(_PERSON_HEADS, 0.82, 0.2, 2.9)


def _paint_persongroup(
    draw: ImageDraw.ImageDraw, f: ShapeFrame, colour: tuple[int, int, int]
) -> None:
    for k in range(10):
        v = 0.3 + 0.055 * k
        draw.rectangle(f.box(-1.5, v, 1.5, v + 0.025), fill=_darker(colour))
    for u in _PERSON_HEADS:
        draw.ellipse(f.box(u - 0.1, 0.82, u + 0.1, 1.0), fill=(235, 190, 160))


_CAR_ROOFS = [-1.6, -0.55, 0.5, 1.55]
_CARGROUP = _group_outline(_CAR_ROOFS, 0.55, 0.42, 4.2)


def _paint_cargroup(draw: ImageDraw.ImageDraw, f: ShapeFrame, colour: tuple[int, int, int]) -> None:
    for u in _CAR_ROOFS:
        draw.rectangle(f.box(u - 0.3, 0.62, u + 0.3, 0.85), fill=(170, 210, 240))
        _wheel(draw, f, u - 0.25, 0.12, 0.12)
        _wheel(draw, f, u + 0.25, 0.12, 0.12)


SHAPES: dict[str, ShapeKind] = {
    kind.label: kind
    for kind in (
        ShapeKind("person", (0.28, 0.5), (220, 20, 60), _PERSON, _paint_person),
        ShapeKind("rider", (0.3, 0.45), (255, 140, 0), _RIDER, _paint_rider),
        ShapeKind("car", (0.16, 0.3), (30, 60, 210), _CAR, _paint_car),
        ShapeKind("truck", (0.22, 0.36), (30, 100, 45), _TRUCK, _paint_truck),
        ShapeKind("bus", (0.24, 0.36), (240, 200, 0), _BUS, _paint_bus),
        ShapeKind("train", (0.18, 0.28), (120, 60, 160), _TRAIN, _paint_train),
        ShapeKind("motorcycle", (0.16, 0.26), (230, 0, 230), _MOTORCYCLE, _paint_motorcycle),
        ShapeKind("bicycle", (0.16, 0.26), (0, 200, 200), _BICYCLE, _paint_bicycle),
        ShapeKind("caravan", (0.2, 0.3), (215, 195, 150), _CARAVAN, _paint_caravan),
        ShapeKind("trailer", (0.16, 0.24), (140, 90, 50), _TRAILER, _paint_trailer),
        ShapeKind("persongroup", (0.2, 0.3), (220, 20, 60), _PERSONGROUP, _paint_persongroup),
        ShapeKind("cargroup", (0.16, 0.24), (30, 60, 210), _CARGROUP, _paint_cargroup),
    )
}
