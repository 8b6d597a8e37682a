"""One optimisation step: zero_grad -> backward -> (unscale) -> clip -> step, with optional
mixed precision (``fp16 = dict(loss_scale='dynamic' | float)`` as MMDetection v2).

Built from ``optimizer_config`` (mmcv ``OptimizerHook``/``Fp16OptimizerHook`` arguments:
``grad_clip=dict(max_norm=..., norm_type=2)``) and ``fp16``. Mixed precision uses
``torch.autocast`` (float16 on CUDA, bfloat16 on CPU) and ``torch.amp.GradScaler``: a dynamic
scale grows/shrinks as usual; a float ``loss_scale`` is a static scale that never changes.
``fp16 = dict(dtype='bfloat16')`` (mmengine's ``AmpOptimWrapper`` name) autocasts to bfloat16
on any device without loss scaling (bfloat16 has float32's range).
On a CPU without native bfloat16 (or float16) arithmetic (no AVX-512 BF16 / AMX) the CPU forward
stays
float32 (``detkit.ops.cpu.cpu_autocast`` warns once): emulated bfloat16 is several times slower.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from detkit.ops.cpu import cpu_autocast

__all__ = ["GradientStep"]

_OPTIMIZER_HOOK_TYPES = {"OptimizerHook", "Fp16OptimizerHook", "GradientCumulativeOptimizerHook"}


class GradientStep:
    """Applies a loss to the parameters.

    Args:
        grad_clip: kwargs of ``torch.nn.utils.clip_grad_norm_`` (e.g. ``max_norm=35``) or None.
        loss_scale: None (full precision), ``'dynamic'`` or a float static scale.
        device_type: ``'cuda'`` or ``'cpu'`` (autocast device).
        dtype: autocast dtype: None (float16 on CUDA, bfloat16 on CPU), ``'float16'`` or
            ``'bfloat16'`` (no loss scaling; ``loss_scale`` is then ignored).
    """

    def __init__(
        self,
        grad_clip: Mapping[str, Any] | None = None,
        loss_scale: str | float | None = None,
        device_type: str = "cpu",
        dtype: str | None = None,
    ) -> None:
        if dtype not in (None, "float16", "bfloat16"):
            raise ValueError(f"fp16.dtype must be 'float16' or 'bfloat16', got {dtype!r}")
        self.grad_clip = dict(grad_clip) if grad_clip else None
        self.device_type = device_type
        self.fp16 = loss_scale is not None or dtype is not None
        self.dtype = getattr(torch, dtype or ("float16" if device_type == "cuda" else "bfloat16"))
        self.static_scale: float | None = None
        if dtype == "bfloat16":
            self.scaler = torch.amp.GradScaler(device_type, enabled=False)
        elif loss_scale is None or loss_scale == "dynamic":
            self.scaler = torch.amp.GradScaler(device_type, enabled=self.fp16)
        elif (
            isinstance(loss_scale, (int, float))
            and not isinstance(loss_scale, bool)
            and loss_scale > 0
        ):
            # mmcv: a static scale is re-imposed after every step (steps with inf grads are skipped)
            self.static_scale = float(loss_scale)
            self.scaler = torch.amp.GradScaler(device_type, init_scale=self.static_scale)
        else:
            raise ValueError(
                f"fp16.loss_scale must be 'dynamic' or a positive number, got {loss_scale!r}"
            )

    @classmethod
    def from_config(
        cls,
        optimizer_config: Mapping[str, Any] | None,
        fp16: Mapping[str, Any] | None,
        device_type: str,
    ) -> GradientStep:
        options = dict(optimizer_config or {})
        hook_type = options.pop("type", "OptimizerHook")
        if hook_type not in _OPTIMIZER_HOOK_TYPES:
            raise KeyError(
                f"optimizer_config.type {hook_type!r} is not supported; use one of "
                f"{sorted(_OPTIMIZER_HOOK_TYPES)}"
            )
        grad_clip = options.pop("grad_clip", None)
        loss_scale = options.pop("loss_scale", None)
        options.pop("distributed", None)
        if options:
            raise KeyError(f"optimizer_config: unsupported keys {sorted(options)}")
        dtype = None
        if fp16 is not None:
            unknown = set(fp16) - {"loss_scale", "dtype"}
            if unknown:
                raise KeyError(
                    f"fp16: unsupported keys {sorted(unknown)}; use "
                    "fp16=dict(loss_scale='dynamic') "
                    "or fp16=dict(dtype='bfloat16')"
                )
            loss_scale = dict(fp16).get("loss_scale", "dynamic")
            dtype = dict(fp16).get("dtype")
        return cls(grad_clip=grad_clip, loss_scale=loss_scale, device_type=device_type, dtype=dtype)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Context for the forward pass (mixed precision when fp16 is on: ``self.dtype``, float16
        on CUDA unless set; on CPU only where the CPU computes it natively, else float32)."""
        if self.device_type == "cpu":
            with cpu_autocast(self.dtype, enabled=self.fp16):
                yield
        else:
            with torch.autocast(self.device_type, dtype=self.dtype, enabled=self.fp16):
                yield

    def __call__(
        self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, model: nn.Module
    ) -> float | None:
        """Backward ``loss`` and step ``optimizer``; returns the gradient norm if clipping."""
        optimizer.zero_grad()
        self.scaler.scale(loss).backward()
        grad_norm = None
        params = [p for p in model.parameters() if p.requires_grad and p.grad is not None]
        if self.grad_clip is not None:
            self.scaler.unscale_(optimizer)
            if params:
                grad_norm = float(nn.utils.clip_grad_norm_(params, **self.grad_clip))
        if not self.fp16 and params:  # (with fp16 the GradScaler skips steps with inf/NaN grads)
            self._check_finite(grad_norm, model)
        self.scaler.step(optimizer)
        self.scaler.update(self.static_scale)
        return grad_norm

    @staticmethod
    def _check_finite(grad_norm: float | None, model: nn.Module) -> None:
        """Raise before stepping if a gradient is NaN/inf (the weights and checkpoints stay
        finite)."""
        if grad_norm is None:
            grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
            grad_norm = float(nn.utils.get_total_norm(grads))
        if math.isfinite(grad_norm):
            return
        bad = [
            name
            for name, p in model.named_parameters()
            if p.grad is not None and not bool(torch.isfinite(p.grad).all())
        ]
        shown = ", ".join(bad[:8]) + (", ..." if len(bad) > 8 else "")
        raise FloatingPointError(
            f"gradient norm is {grad_norm} although the loss is finite; the step was not "
            f"taken. Non-finite gradients in: {shown}"
        )

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.fp16 else {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.fp16 and state:
            self.scaler.load_state_dict(dict(state))
