"""``LazyCompiled``: a function run through ``torch.compile`` on its first call, with
inductor settings applied around every call.

``torch.compile(options=...)`` does not reach every inductor setting (weight freezing, which
folds BatchNorm into the convs for inference, is read from the inductor config), so
``options`` are applied as a config patch around each compiled call instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

__all__ = ["LazyCompiled", "parse_compile_option"]


def parse_compile_option(
    compile: bool | Mapping[str, Any] | None,  # noqa: A002
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A model's ``compile`` option (``True`` or ``torch.compile`` keyword arguments, with
    optional inductor ``options``) as ``(torch.compile kwargs, inductor options)``; None when
    off. Raises TypeError naming ``model.compile`` for anything else."""
    if compile is not None and not isinstance(compile, (bool, Mapping)):
        raise TypeError(
            f"model.compile must be a bool or a dict of torch.compile arguments, got {compile!r}"
        )
    if not compile:
        return None
    kwargs = {} if compile is True else dict(compile)
    return kwargs, dict(kwargs.pop("options", None) or {})


class LazyCompiled:
    """``fn`` compiled with ``torch.compile(fn, **compile_kwargs)`` on the first call.

    Args:
        fn: the function (e.g. a detector's backbone + neck pass).
        compile_kwargs: ``torch.compile`` keyword arguments (``backend``, ``dynamic``, ...).
        inductor_options: inductor config entries patched in around each call
            (e.g. ``dict(freezing=True)``).

    Copies and pickles drop the compiled function (it is bound to the original ``fn``'s
    owner) and compile again on their first call.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        compile_kwargs: Mapping[str, Any],
        inductor_options: Mapping[str, Any],
    ) -> None:
        self.fn = fn
        self.compile_kwargs = dict(compile_kwargs)
        self.inductor_options = dict(inductor_options)
        self.compiled: Callable[..., Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "compiled": None}

    def __call__(self, *args: Any) -> Any:
        if self.compiled is None:
            self.compiled = torch.compile(self.fn, **self.compile_kwargs)
        if not self.inductor_options:
            return self.compiled(*args)
        import torch._inductor.config as inductor_config

        with inductor_config.patch(self.inductor_options):
            return self.compiled(*args)
