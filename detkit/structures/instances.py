"""``Instances``: per-instance fields of one image kept at the same length.

Inspired by detectron2's ``Instances``: every field (``bboxes`` ``[N, 4]`` float32 xyxy
absolute pixels, ``labels`` ``[N]`` int64, ``masks`` a ``BitmapMasks``/``PolygonMasks``, or
anything else indexable with ``len``) must have the same length ``N``, and ``inst[keep]``
indexes all of them at once. It is NumPy/torch agnostic: the index may be an int, a slice, a
list, or a bool/int NumPy array or torch tensor; it is converted to the kind each field needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

__all__ = ["Instances"]

Index = int | slice | list[Any] | NDArray[Any] | torch.Tensor


def _as_numpy_index(index: slice | list[Any] | NDArray[Any] | torch.Tensor) -> slice | NDArray[Any]:
    if isinstance(index, torch.Tensor):
        return index.detach().cpu().numpy()
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _index_field(value: Any, index: Index) -> Any:
    """Index one field, keeping it a sequence (an int index selects a length-1 field)."""
    if isinstance(index, (int, np.integer)):
        index = slice(int(index), int(index) + 1) if index != -1 else slice(-1, None)
    if isinstance(value, torch.Tensor):
        if isinstance(index, np.ndarray):
            index = torch.from_numpy(index)
        elif isinstance(index, list):
            index = torch.as_tensor(index)
        if isinstance(index, torch.Tensor):
            index = index.to(value.device)
            if index.dtype != torch.bool:
                index = index.long()
        return value[index]
    np_index = _as_numpy_index(index)
    if isinstance(value, list):
        if isinstance(np_index, slice):
            return value[np_index]
        if np_index.dtype == bool:
            np_index = np.flatnonzero(np_index)
        return [value[int(i)] for i in np_index]
    if isinstance(value, np.ndarray):
        return value[np_index]
    # mask objects (BitmapMasks / PolygonMasks): index with int arrays, as mmdet's do
    if isinstance(np_index, np.ndarray) and np_index.dtype == bool:
        np_index = np.flatnonzero(np_index)
    if isinstance(np_index, slice):
        np_index = np.arange(len(value))[np_index]
    return value[np_index]


class Instances:
    """Per-instance fields of one image, all of the same length.

    Args:
        image_size: ``(height, width)`` of the image the instances live in.
        **fields: initial fields, e.g. ``bboxes=np.zeros((0, 4), np.float32)``.

    Example:
        >>> import numpy as np
        >>> inst = Instances((20, 30), bboxes=np.array([[0, 0, 5, 5], [1, 1, 2, 3]], np.float32),
        ...                  labels=np.array([3, 1]))
        >>> kept = inst[inst.labels > 2]
        >>> len(kept), kept.labels.tolist()
        (1, [3])
    """

    def __init__(self, image_size: tuple[int, int], **fields: Any) -> None:
        if len(image_size) != 2:
            raise ValueError(f"image_size must be (height, width), got {image_size!r}")
        object.__setattr__(self, "image_size", (int(image_size[0]), int(image_size[1])))
        object.__setattr__(self, "_fields", {})
        for name, value in fields.items():
            self.set(name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or name == "image_size":
            raise AttributeError(f"cannot set reserved attribute {name!r} of Instances")
        self.set(name, value)

    def __getattr__(self, name: str) -> Any:
        fields = object.__getattribute__(self, "_fields")
        if name not in fields:
            raise AttributeError(f"Instances has no field {name!r}; fields: {sorted(fields)}")
        return fields[name]

    def set(self, name: str, value: Any) -> None:
        """Add or replace field ``name``; its length must equal the other fields' length."""
        if not hasattr(value, "__len__"):
            raise TypeError(f"field {name!r} must have a length, got {type(value).__name__}")
        others = {k: v for k, v in self._fields.items() if k != name}
        if others and len(value) != len(self):
            raise ValueError(
                f"adding field {name!r} of length {len(value)} to Instances of length {len(self)}"
            )
        self._fields[name] = value

    def get(self, name: str) -> Any:
        return getattr(self, name)

    def has(self, name: str) -> bool:
        return name in self._fields

    def remove(self, name: str) -> None:
        if name not in self._fields:
            raise KeyError(f"Instances has no field {name!r}; fields: {sorted(self._fields)}")
        del self._fields[name]

    def fields(self) -> dict[str, Any]:
        """The field dict (name -> value), in insertion order."""
        return dict(self._fields)

    def __len__(self) -> int:
        for value in self._fields.values():
            return len(value)
        return 0

    def __contains__(self, name: object) -> bool:
        return name in self._fields

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("Instances is not iterable; index it or read its fields")

    def __getitem__(self, index: Index) -> Instances:
        """Instances with every field indexed by ``index`` (an int keeps a length-1 result)."""
        if isinstance(index, (int, np.integer)) and not -len(self) <= index < len(self):
            raise IndexError(f"Instances index {index} out of range for length {len(self)}")
        out = Instances(self.image_size)
        for name, value in self._fields.items():
            out._fields[name] = _index_field(value, index)
        return out

    @staticmethod
    def cat(instances: list[Instances]) -> Instances:
        """Concatenate ``Instances`` of the same image (fields must match; arrays/tensors/lists)."""
        if not instances:
            raise ValueError("Instances.cat needs at least one Instances")
        first = instances[0]
        out = Instances(first.image_size)
        for name, value in first._fields.items():
            values = [inst.get(name) for inst in instances]
            if isinstance(value, torch.Tensor):
                out._fields[name] = torch.cat(values)
            elif isinstance(value, np.ndarray):
                out._fields[name] = np.concatenate(values)
            elif isinstance(value, list):
                out._fields[name] = [item for v in values for item in v]
            elif hasattr(type(value), "cat"):
                out._fields[name] = type(value).cat(values)
            else:
                raise TypeError(f"cannot concatenate field {name!r} of type {type(value).__name__}")
        return out

    def __repr__(self) -> str:
        names = ", ".join(self._fields)
        return (
            f"Instances(num_instances={len(self)}, image_size={self.image_size}, fields=[{names}])"
        )
