"""Cosine-similarity predictors (MMDetection v2 ``NormedLinear`` / ``NormedConv2d``) and
``build_linear_layer``.

A normed predictor divides its input and each output unit's weight by their L2 norms (raised
to ``power``, plus ``eps``) and multiplies the input by a temperature, so its logits are
scaled cosine similarities. Seesaw-loss configs use them as ``cls_predictor_cfg`` of the box
head and ``predictor_cfg`` of the mask head. The temperature keyword is mmdet's spelling
``tempearture`` (``temperature`` is accepted too); parameters are ``weight``/``bias`` as in
``nn.Linear``/``nn.Conv2d``, so checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from detkit.ops import Linear, linear
from detkit.registry import MODELS, build

__all__ = ["NormedLinear", "NormedConv2d", "build_linear_layer"]

_DEFAULT_TEMPERATURE = 20.0


def _temperature(tempearture: float | None, temperature: float | None, owner: str) -> float:
    if tempearture is not None and temperature is not None:
        raise TypeError(f"{owner}: give tempearture (mmdet's spelling) or temperature, not both")
    for value in (tempearture, temperature):
        if value is not None:
            return float(value)
    return _DEFAULT_TEMPERATURE


def _normalize(x: torch.Tensor, norm: torch.Tensor, power: float, eps: float) -> torch.Tensor:
    return x / (norm.pow(power) + eps)


@MODELS.register_module()
class NormedLinear(nn.Linear):
    """``nn.Linear`` on normalised input ``[N, in_features]`` and normalised weight rows.

    ``y = T * (x / (|x|^power + eps)) @ (W / (|W_row|^power + eps)).T + b``, ``[N, out]``.

    Args:
        *args, **kwargs: ``nn.Linear``'s (``in_features``, ``out_features``, ``bias``).
        tempearture: ``T`` (mmdet's keyword spelling); ``temperature`` is an alias.
        power: exponent of the norms.
        eps: added to the norms.

    The weight starts as N(0, 0.01²) and the bias as 0 (mmdet's ``init_weights``).
    """

    def __init__(
        self,
        *args: Any,
        tempearture: float | None = None,
        temperature: float | None = None,
        power: float = 1.0,
        eps: float = 1e-6,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.tempearture = _temperature(tempearture, temperature, "NormedLinear")
        self.power = power
        self.eps = eps
        self.init_weights()

    def init_weights(self) -> None:
        nn.init.normal_(self.weight, mean=0, std=0.01)
        if self.bias is not None:
            nn.init.constant_(self.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = _normalize(
            self.weight, self.weight.norm(dim=1, keepdim=True), self.power, self.eps
        )
        x = _normalize(x, x.norm(dim=1, keepdim=True), self.power, self.eps) * self.tempearture
        return linear(x, weight, self.bias)


@MODELS.register_module()
class NormedConv2d(nn.Conv2d):
    """``nn.Conv2d`` on channel-normalised input ``[N, C, H, W]`` and normalised filters.

    The input is divided at each pixel by its norm over channels (``^power + eps``) and
    multiplied by the temperature; each filter is divided by the norm over its input channels
    (per kernel position), or over the whole filter with ``norm_over_kernel``.

    Args:
        *args, **kwargs: ``nn.Conv2d``'s.
        tempearture: the temperature (mmdet's keyword spelling); ``temperature`` is an alias.
        power: exponent of the norms.
        eps: added to the norms.
        norm_over_kernel: one norm per filter instead of one per kernel position.

    The weights keep ``nn.Conv2d``'s initialisation (as in mmdet).
    """

    def __init__(
        self,
        *args: Any,
        tempearture: float | None = None,
        temperature: float | None = None,
        power: float = 1.0,
        eps: float = 1e-6,
        norm_over_kernel: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.tempearture = _temperature(tempearture, temperature, "NormedConv2d")
        self.power = power
        self.eps = eps
        self.norm_over_kernel = norm_over_kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm_over_kernel:
            norm = self.weight.view(self.weight.size(0), -1).norm(dim=1, keepdim=True)
            weight = _normalize(self.weight, norm[..., None, None], self.power, self.eps)
        else:
            norm = self.weight.norm(dim=1, keepdim=True)
            weight = _normalize(self.weight, norm, self.power, self.eps)
        x = _normalize(x, x.norm(dim=1, keepdim=True), self.power, self.eps) * self.tempearture
        out: torch.Tensor = self._conv_forward(x, weight, self.bias)
        return out


def build_linear_layer(
    cfg: Mapping[str, Any] | None, in_features: int, out_features: int, bias: bool = True
) -> nn.Linear:
    """A linear predictor from ``cfg`` (mmdet's ``build_linear_layer``): None or
    ``dict(type='Linear')`` give a plain linear layer, ``dict(type='NormedLinear', ...)`` a
    normed one; other keys go to the constructor."""
    spec: dict[str, Any] = dict(type="Linear") if cfg is None else dict(cfg)
    if spec.get("type") == "Linear":
        spec["type"] = Linear
    layer = build(
        spec,
        MODELS,
        default_args=dict(in_features=in_features, out_features=out_features, bias=bias),
    )
    if not isinstance(layer, nn.Linear):
        raise TypeError(f"build_linear_layer: {cfg!r} did not build a linear layer")
    return layer
