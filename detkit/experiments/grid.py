"""Sweep grids: which notebook runs a sweep makes.

A grid is a YAML file (or the same dict)::

    fixed:            # parameters of every run (lists and dicts passed as they are)
      max_epochs: 2
      img_scale: [512, 256]
    grid:             # every combination of these values
      samples_per_gpu: [1, 2]
    variants:         # optional named settings, crossed with the grid
      FPN: {cfg_options: {model.neck.type: FPN}}
      AugFPN: {}
    seeds: [0, 1, 2]  # each setting runs once per seed (notebook parameter ``seed``)

A mapping without these keys is a plain grid: a list value is an axis, a scalar is fixed,
``seed``/``seeds`` lists the seeds. A setting is named by its variant and grid values
(``AugFPN,samples_per_gpu=2``); its runs go to ``<out_dir>/<setting>/seed_<s>/``.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["SweepRun", "expand_grid", "load_grid"]

_KEYS = {"fixed", "grid", "variants", "seeds", "seed_parameter"}


@dataclass(frozen=True)
class SweepRun:
    """One notebook execution: ``setting`` (the name shared by its seeds), ``seed``, the
    notebook ``parameters`` (seed included) and ``folder``, its path below the sweep dir."""

    setting: str
    seed: int | None
    parameters: dict[str, Any] = field(hash=False)
    folder: str


def load_grid(grid: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """The grid as a dict (read from a YAML file when given a path)."""
    if isinstance(grid, Mapping):
        return dict(grid)
    with open(grid) as file:
        loaded = yaml.safe_load(file)
    if not isinstance(loaded, Mapping):
        raise ValueError(
            f"{grid}: a sweep grid must be a YAML mapping, got {type(loaded).__name__}"
        )
    return dict(loaded)


def _normalise(spec: Mapping[str, Any]) -> dict[str, Any]:
    if _KEYS & set(spec):
        unknown = set(spec) - _KEYS
        if unknown:
            raise KeyError(f"unknown sweep grid keys {sorted(unknown)}; use {sorted(_KEYS)}")
        return {
            "fixed": dict(spec.get("fixed") or {}),
            "grid": dict(spec.get("grid") or {}),
            "variants": dict(spec.get("variants") or {}),
            "seeds": spec.get("seeds"),
            "seed_parameter": spec.get("seed_parameter", "seed"),
        }
    plain = dict(spec)
    seeds = plain.pop("seeds", None)
    if seeds is None and isinstance(plain.get("seed"), list):
        seeds = plain.pop("seed")
    return {
        "fixed": {k: v for k, v in plain.items() if not isinstance(v, list)},
        "grid": {k: v for k, v in plain.items() if isinstance(v, list)},
        "variants": {},
        "seeds": seeds,
        "seed_parameter": "seed",
    }


def _folder_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.,=+-]+", "_", text).strip("_") or "default"


def expand_grid(grid: str | os.PathLike[str] | Mapping[str, Any]) -> list[SweepRun]:
    """Every run of ``grid``, settings in grid order, seeds innermost."""
    spec = _normalise(load_grid(grid))
    for name, values in spec["grid"].items():
        if not isinstance(values, list) or not values:
            raise ValueError(
                f"sweep grid axis {name!r} needs a non-empty list of values, got {values!r}"
            )
    seeds = spec["seeds"]
    seeds = [None] if seeds is None else list(seeds) if isinstance(seeds, list) else [seeds]
    variants = spec["variants"] or {"": {}}
    names = list(spec["grid"])
    runs, folders = [], set()
    for variant, overrides in variants.items():
        if not isinstance(overrides, Mapping):
            raise ValueError(
                f"sweep variant {variant!r} must map parameters to values, got {overrides!r}"
            )
        for values in itertools.product(*(spec["grid"][n] for n in names)):
            axes = [f"{n}={v}" for n, v in zip(names, values)]
            setting = ",".join(([str(variant)] if variant else []) + axes) or "default"
            for seed in seeds:
                parameters = {**spec["fixed"], **overrides, **dict(zip(names, values))}
                if seed is not None:
                    parameters[spec["seed_parameter"]] = seed
                folder = os.path.join(
                    _folder_name(setting), "seed_" + str(seed) if seed is not None else "run"
                )
                if folder in folders:
                    raise ValueError(
                        f"two sweep runs share the folder {folder!r}; rename a variant or value"
                    )
                folders.add(folder)
                runs.append(SweepRun(setting, seed, parameters, folder))
    return runs
