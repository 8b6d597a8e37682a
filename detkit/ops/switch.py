"""The one switch for detkit's fast CPU kernels, and choices forced by hand.

``DETKIT_FAST_KERNELS=0`` in the environment, or :func:`fast_kernels` ``(False)`` in code, runs
stock PyTorch everywhere: ATen's own convolution and linear kernels (no NNPACK, no Winograd
kernel gradient, no oneDNN matrix products called by detkit), torchvision's RoIAlign on NCHW
maps, no RoI mosaic, no layout changes around the ResNet stem or the mask head's deconvolution.
Results agree with the fast kernels to float rounding (each kernel's tolerance is tested).

With the switch on, each kernel choice is measured on this machine (:mod:`detkit.ops.tuner`);
:func:`force_kernels` (or ``DETKIT_KERNELS="conv3x3=nnpack,linear=pytorch"``) pins an op's
choice instead, for benches and tests. A pinned choice that does not apply to a call (NNPACK
on a strided conv, say) falls back to ``pytorch``, the stock kernel.

Inside ``torch.compile``, ``torch.export`` and TorchScript tracing, model code always takes the
stock ops (:func:`traced`), so that compilers and exporters see ``aten`` convolutions and
linear layers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType

import torch

__all__ = [
    "STOCK",
    "fast_kernels",
    "fast_kernels_enabled",
    "force_kernels",
    "forced_kernel",
    "traced",
]

STOCK = "pytorch"  # the candidate name of PyTorch's own kernel in every op
_OFF = ("0", "false", "off", "no")


def _parse_forced(text: str) -> dict[str, str]:
    """``"op=choice,op2=choice2"`` -> ``{op: choice}``; raises ValueError naming the entry."""
    forced: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        op, sep, choice = (part.strip() for part in item.partition("="))
        if not sep or not op or not choice:
            raise ValueError(f"DETKIT_KERNELS: expected 'op=choice' entries, got {item!r}")
        forced[op] = choice
    return forced


_enabled = os.environ.get("DETKIT_FAST_KERNELS", "1").strip().lower() not in _OFF
_forced: dict[str, str] = _parse_forced(os.environ.get("DETKIT_KERNELS", ""))


def fast_kernels_enabled() -> bool:
    """detkit's fast CPU kernels are on (:func:`fast_kernels`)."""
    return _enabled


class fast_kernels:  # noqa: N801  (used like torch.set_grad_enabled)
    """Turn detkit's fast CPU kernels on or off for the process: ``fast_kernels(False)``
    switches now; ``with fast_kernels(False): ...`` restores the previous state on exit."""

    def __init__(self, enabled: bool) -> None:
        global _enabled
        self.previous = _enabled
        _enabled = bool(enabled)

    def __enter__(self) -> fast_kernels:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        global _enabled
        _enabled = self.previous


class force_kernels:  # noqa: N801
    """Pin the choice of ops: ``force_kernels(conv3x3="nnpack", linear="pytorch")``; a value
    of None removes a pin. Takes effect now; as a context manager it restores the previous pins
    on exit. Op and candidate names are those of :func:`detkit.ops.kernel_report`."""

    def __init__(self, choices: Mapping[str, str | None] | None = None, **kwargs: str | None):
        self.previous = dict(_forced)
        for op, choice in {**(choices or {}), **kwargs}.items():
            if choice is None:
                _forced.pop(op, None)
            else:
                _forced[op] = choice

    def __enter__(self) -> force_kernels:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _forced.clear()
        _forced.update(self.previous)


def forced_kernel(op: str) -> str | None:
    """The pinned choice of ``op``, or None (measured)."""
    return _forced.get(op)


def traced() -> bool:
    """Inside ``torch.compile``, ``torch.export`` or a TorchScript trace."""
    return (
        torch.compiler.is_compiling()
        or torch.compiler.is_exporting()
        or bool(torch._C._is_tracing())
    )
