"""Backbone plugins from mmcv ``plugins`` entries: ``build_plugin_layer``.

A ResNet-family block inserts each plugin after its conv1, conv2 or conv3 (``position``)
under mmcv's name: the type's abbreviation plus the config's ``postfix``
(``context_block``, ``gen_attention_block``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn as nn

from detkit.models.layers.context_block import ContextBlock
from detkit.models.layers.generalized_attention import GeneralizedAttention

__all__ = ["PLUGIN_TYPES", "build_plugin_layer"]

PLUGIN_TYPES: dict[str, type[ContextBlock] | type[GeneralizedAttention]] = {
    "ContextBlock": ContextBlock,
    "GeneralizedAttention": GeneralizedAttention,
}


def build_plugin_layer(
    cfg: Mapping[str, Any], postfix: int | str = "", **kwargs: Any
) -> tuple[str, nn.Module]:
    """``(name, layer)`` of ``cfg`` (``type`` plus the plugin's arguments); ``kwargs`` (e.g.
    ``in_channels``) are added by the block that owns it."""
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise TypeError(f"plugin cfg must be a dict with a 'type' key, got {cfg!r}")
    kind = cfg["type"]
    if kind not in PLUGIN_TYPES:
        raise KeyError(f"plugin type {kind!r} is unknown; expected one of {sorted(PLUGIN_TYPES)}")
    plugin = PLUGIN_TYPES[kind]
    layer = plugin(**kwargs, **{k: v for k, v in cfg.items() if k != "type"})
    return f"{plugin._abbr_}{postfix}", layer
