"""Per-module parameter counts of a model, as rows and as a text table."""

from __future__ import annotations

from typing import Any

import torch.nn as nn

__all__ = ["parameter_table", "format_parameter_table"]


def parameter_table(model: nn.Module, max_depth: int = 2) -> list[dict[str, Any]]:
    """One row per sub-module up to ``max_depth`` dots deep (``backbone``, ``roi_head.bbox_head``,
    ...), plus a ``total`` row: ``name``, ``type``, ``params``, ``trainable`` (parameters with
    ``requires_grad``). Containers without parameters are skipped."""
    if max_depth < 1:
        raise ValueError(f"max_depth must be >= 1, got {max_depth}")
    rows = []
    for name, module in model.named_modules():
        if not name or name.count(".") >= max_depth:
            continue
        params = list(module.parameters())
        if not params:
            continue
        rows.append(
            {
                "name": name,
                "type": type(module).__name__,
                "params": sum(p.numel() for p in params),
                "trainable": sum(p.numel() for p in params if p.requires_grad),
            }
        )
    rows.append(
        {
            "name": "total",
            "type": type(model).__name__,
            "params": sum(p.numel() for p in model.parameters()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        }
    )
    return rows


def format_parameter_table(rows: list[dict[str, Any]]) -> str:
    """The rows of :func:`parameter_table` as an aligned text table (nested names indented)."""
    width = max(len(r["name"]) + 2 * r["name"].count(".") for r in rows)
    type_width = max(len(r["type"]) for r in rows)
    lines = [f"{'module':<{width}}  {'type':<{type_width}}  {'params':>12}  {'trainable':>12}"]
    for r in rows:
        depth = r["name"].count(".")
        label = "  " * depth + r["name"].split(".")[-1] if r["name"] != "total" else "total"
        lines.append(
            f"{label:<{width}}  {r['type']:<{type_width}}  {r['params']:>12,}  "
            f"{r['trainable']:>12,}"
        )
    return "\n".join(lines)
