"""MMEngine's pure-Python configs (MMDetection 3.x ``mmdet/configs/``)::

    from mmengine.config import read_base
    with read_base():
        from .._base_.models.mask_rcnn_r50_fpn import *
    from mmdet.models.losses import SmoothL1Loss
    model.merge(dict(roi_head=dict(bbox_head=dict(loss_bbox=dict(type=SmoothL1Loss)))))

Loaded without importing anything they name: the ``read_base()`` block (also the older
``if '_base_':``) loads each base file (relative to this file, or ``mmdet.configs.*`` from a
local MMDetection, see :mod:`.scope`) and binds its keys (``import *``) or the named ones;
every other import binds a placeholder whose value is the imported name (``SmoothL1Loss`` ->
``'SmoothL1Loss'``; torch's norm layers -> mmcv's names, ``BatchNorm2d`` -> ``'BN'``), which is
what detkit's registries look up. Dicts support MMEngine's ``merge`` (``_delete_`` rules).
The rest of the file runs as a normal detkit ``.py`` config.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

from detkit.config.config_dict import ConfigDict
from detkit.config.merging import merge_a_into_b
from detkit.config.v3.common import TORCH_NORM_NAMES
from detkit.config.v3.scope import mmdet_config_file

__all__ = ["is_pure_python", "load_pure_python", "ImportedName"]

LoadFile = Callable[[Path], Mapping[str, Any]]


class ImportedName(str):
    """A name imported by a pure-Python config: its value is the registry name."""

    module: str

    def __new__(cls, module: str, name: str) -> ImportedName:
        value = TORCH_NORM_NAMES.get(name, name) if module.startswith("torch") else name
        obj = super().__new__(cls, value)
        obj.module = module
        return obj

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]
        return self.module, str(self)


class _ModulePlaceholder:
    """``import torch.nn as nn``: attribute access gives imported names."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> ImportedName:
        return ImportedName(self._name, attr)


class LazyConfigDict(ConfigDict):
    """A config dict with MMEngine's ``merge`` (child values win, ``_delete_`` replaces)."""

    def __setitem__(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, key, _lazy(value))

    def merge(self, other: Mapping[str, Any]) -> None:
        """Merge ``other`` into this dict with the config merge rules."""
        merged = merge_a_into_b(dict(other), ConfigDict(self))
        self.clear()
        for key, value in merged.items():
            self[key] = value


def _lazy(value: Any) -> Any:
    if isinstance(value, Mapping) and not isinstance(value, LazyConfigDict):
        return LazyConfigDict(value)
    if isinstance(value, list):
        return [_lazy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_lazy(v) for v in value)
    return value


def _is_base_block(node: ast.stmt) -> bool:
    if isinstance(node, ast.With):
        call = node.items[0].context_expr
        return isinstance(call, ast.Call) and getattr(call.func, "id", "") == "read_base"
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Constant)
        and node.test.value == "_base_"
    )


def is_pure_python(text: str) -> bool:
    """The file has a ``with read_base():`` (or ``if '_base_':``) block."""
    if "read_base" not in text and "_base_'" not in text and '_base_"' not in text:
        return False
    try:
        return any(_is_base_block(node) for node in ast.parse(text).body)
    except SyntaxError:
        return False


def _base_file(node: ast.ImportFrom, path: Path) -> Path:
    parts = (node.module or "").split(".")
    if node.level == 0:
        if parts[:2] != ["mmdet", "configs"]:
            raise ImportError(f"{path}: base {node.module} is neither relative nor mmdet.configs")
        return mmdet_config_file("/".join(parts[2:]) + ".py", pure_python=True)
    folder = path.parent
    for _ in range(node.level - 1):
        folder = folder.parent
    return folder.joinpath(*parts).with_suffix(".py")


def _bind_bases(block: ast.stmt, path: Path, load: LoadFile, namespace: dict[str, Any]) -> None:
    for node in getattr(block, "body", []):
        if not isinstance(node, ast.ImportFrom):
            raise SyntaxError(f"{path}: only `from ... import ...` may stand in read_base()")
        base = _base_file(node, path)
        if not base.is_file():
            raise FileNotFoundError(f"base config {base} (imported in {path}) not found")
        values = load(base)
        for alias in node.names:
            if alias.name == "*":
                namespace.update({k: _lazy(v) for k, v in values.items()})
            elif alias.name in values:
                namespace[alias.asname or alias.name] = _lazy(values[alias.name])
            else:
                raise ImportError(f"{path}: {base} has no `{alias.name}`")


def _bind_import(node: ast.Import | ast.ImportFrom, namespace: dict[str, Any]) -> None:
    for alias in node.names:
        if isinstance(node, ast.ImportFrom):
            namespace[alias.asname or alias.name] = ImportedName(node.module or "", alias.name)
        else:
            top = alias.asname or alias.name.split(".")[0]
            namespace[top] = _ModulePlaceholder(alias.name if alias.asname else top)


def load_pure_python(path: Path, text: str, load: LoadFile) -> dict[str, Any]:
    """The config values of pure-Python config ``path`` (``text``); ``load`` reads a base file
    (text or pure-Python) into its merged values."""
    tree = ast.parse(text, filename=str(path))
    namespace: dict[str, Any] = {
        "__file__": str(path),
        "__name__": "__detkit_config__",
        "__builtins__": builtins,
        "dict": LazyConfigDict,
    }
    body = []
    for node in tree.body:
        if _is_base_block(node):
            _bind_bases(node, path, load, namespace)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            _bind_import(node, namespace)
        else:
            body.append(node)
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), namespace)
    return {
        name: value
        for name, value in namespace.items()
        if not name.startswith("_")
        and name != "dict"
        and not isinstance(value, (ModuleType, FunctionType, type, _ModulePlaceholder))
        and not isinstance(value, ImportedName)
    }
