"""The result of loading a state dict: which keys were loaded, missing, unexpected or
skipped because of a shape mismatch, rendered as one compact table.

Keys that differ only in their numeric parts (``roi_head.bbox_head.0.fc_cls.weight``,
``…1…``, ``…2…``) and share shapes are grouped into one row
(``roi_head.bbox_head.{0,1,2}.fc_cls.weight``), so the 12 class-dependent tensors of a
COCO -> Cityscapes Cascade Mask R-CNN load read as 4 rows.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

__all__ = ["LoadReport"]

_MAX_ROWS_PER_STATUS = 16
_NUMBER = re.compile(r"^\d+$")


def _shape_text(shape: tuple[int, ...] | None) -> str:
    return "-" if shape is None else "[" + ", ".join(str(s) for s in shape) + "]"


def _group_rows(
    entries: list[tuple[str, tuple | None, tuple | None]],
) -> list[tuple[str, str, str]]:
    """Group (key, ckpt shape, model shape) entries whose keys differ only in numbers."""
    groups: dict[tuple, list[list[str]]] = defaultdict(list)
    for key, ckpt_shape, model_shape in entries:
        parts = key.split(".")
        pattern = tuple("#" if _NUMBER.match(p) else p for p in parts)
        numbers = [p for p in parts if _NUMBER.match(p)]
        groups[(pattern, ckpt_shape, model_shape)].append(numbers)
    rows = []
    for (pattern, ckpt_shape, model_shape), number_lists in groups.items():
        columns = list(zip(*number_lists)) if number_lists and number_lists[0] else []
        position, name_parts = 0, []
        for part in pattern:
            if part != "#":
                name_parts.append(part)
                continue
            values = sorted(set(columns[position]), key=int)
            position += 1
            name_parts.append(values[0] if len(values) == 1 else "{" + ",".join(values) + "}")
        rows.append((".".join(name_parts), _shape_text(ckpt_shape), _shape_text(model_shape)))
    if len(rows) > _MAX_ROWS_PER_STATUS:  # too many patterns: count per top-level module
        counts: dict[str, int] = defaultdict(int)
        for key, _, _ in entries:
            counts[".".join(key.split(".")[:2]) + ".*"] += 1
        rows = [(f"{prefix} ({n} keys)", "", "") for prefix, n in counts.items()]
    return rows


@dataclass
class LoadReport:
    """What ``load_state_dict``/``load_checkpoint`` did.

    Attributes:
        source: where the weights came from (file name or URL).
        loaded: keys copied into the model.
        missing: model keys absent from the checkpoint (kept as initialised).
        unexpected: checkpoint keys the model does not have (ignored).
        mismatched: ``(key, checkpoint shape, model shape)`` of keys present in both with
            different shapes (not copied; the model keeps its initialised tensor).
    """

    source: str = "<state dict>"
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """True when every model key was loaded and nothing was left over."""
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        return (
            f"loaded {len(self.loaded)} keys from {self.source}: {len(self.mismatched)} "
            "shape-mismatched "
            f"(kept initialised), {len(self.missing)} missing, {len(self.unexpected)} unexpected"
        )

    def table(self) -> str:
        """The summary line, then one row per group of mismatched/missing/unexpected keys."""
        rows: list[tuple[str, str, str, str]] = []
        rows += [
            ("mismatch", *r)
            for r in _group_rows([(k, tuple(c), tuple(m)) for k, c, m in self.mismatched])
        ]
        rows += [("missing", *r) for r in _group_rows([(k, None, None) for k in self.missing])]
        rows += [
            ("unexpected", *r) for r in _group_rows([(k, None, None) for k in self.unexpected])
        ]
        if not rows:
            return self.summary()
        header = ("status", "key", "checkpoint", "model")
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
        lines = [self.summary(), "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()
