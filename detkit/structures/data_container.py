"""``DataContainer`` (mmcv 1.x ``mmcv.parallel.DataContainer``): a sample field wrapped with
how :func:`detkit.data.collate` batches it and how the engine hands it to the model.

- ``stack=True`` (images, semantic maps): tensors padded at the end of their last
  ``pad_dims`` dims (bottom/right for ``[C, H, W]``) with ``padding_value`` and stacked.
- ``cpu_only=True`` (``img_metas``, ``gt_masks``): gathered into lists and never moved to a
  device.
- otherwise (boxes, labels): gathered into lists of tensors, moved to the device.

After collation ``.data`` holds one entry per GPU chunk of ``samples_per_gpu`` samples, so
``batch['img_metas'].data[0]`` is the list of meta dicts of the first chunk, as in mmcv. The
engine unwraps containers in one place (:func:`detkit.engine.model_inputs.scatter`); the model
sees plain tensors, lists and dicts.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["DataContainer"]


class DataContainer:
    """A wrapped sample field.

    Args:
        data: a tensor, a mask structure, a dict, or (after collation) a list per GPU chunk.
        stack: pad and stack the tensors of a batch.
        padding_value: value of the padded pixels when stacking.
        cpu_only: keep on the CPU (never moved to a device).
        pad_dims: number of trailing dims padded when stacking (1, 2, 3) or None (no padding:
            the tensors must already have equal shapes).

    Raises:
        ValueError: ``pad_dims`` is not None, 1, 2 or 3 (mmcv asserts).
    """

    def __init__(
        self,
        data: Any,
        stack: bool = False,
        padding_value: float = 0,
        cpu_only: bool = False,
        pad_dims: int | None = 2,
    ) -> None:
        if pad_dims not in (None, 1, 2, 3):
            raise ValueError(f"DataContainer: pad_dims must be None, 1, 2 or 3, got {pad_dims!r}")
        self._data = data
        self._cpu_only = cpu_only
        self._stack = stack
        self._padding_value = padding_value
        self._pad_dims = pad_dims

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.data!r})"

    def __len__(self) -> int:
        return len(self._data)

    @property
    def data(self) -> Any:
        return self._data

    @property
    def datatype(self) -> type | str:
        """``tensor.type()`` (e.g. ``'torch.FloatTensor'``) for a tensor, else the type."""
        return self._data.type() if isinstance(self._data, torch.Tensor) else type(self._data)

    @property
    def cpu_only(self) -> bool:
        return self._cpu_only

    @property
    def stack(self) -> bool:
        return self._stack

    @property
    def padding_value(self) -> float:
        return self._padding_value

    @property
    def pad_dims(self) -> int | None:
        return self._pad_dims

    def _tensor(self, what: str) -> torch.Tensor:
        if not isinstance(self._data, torch.Tensor):
            raise AttributeError(
                f"DataContainer.{what}() needs tensor data, it holds {type(self._data).__name__}"
            )
        return self._data

    def size(self, *args: int) -> Any:
        """``data.size(*args)`` of tensor data."""
        return self._tensor("size").size(*args)

    def dim(self) -> int:
        """``data.dim()`` of tensor data."""
        return self._tensor("dim").dim()
