"""``Instances``: per-instance fields of one image (or of a batch) kept at the same length.

Inspired by detectron2's ``Instances``: every field must have the same length ``N``, and
``inst[keep]`` indexes all of them at once. It is NumPy/torch agnostic: the index may be an
int, a slice, a list, or a bool/int NumPy array or torch tensor; it is converted to the kind
each field needs. It is the one instance container of detkit, with one spelling of its fields:

- ``boxes``: ``[N, 4]`` float32 xyxy, absolute pixels (of the network input inside the model);
- ``labels``: ``[N]`` int64 class indices ``0..C-1``; ``scores``: ``[N]`` float32;
- ``masks``: ``BitmapMasks``/``PolygonMasks`` or a ``[N, H, W]`` tensor (ground truth), or
  ``mask_probs`` ``[N, 1, m, m]`` (a detector's RoI mask probabilities);
- ``image_index``: ``[N]`` int64, the image of each row when one ``Instances`` holds a whole
  batch (proposals, RoIs and detections inside the model are flat over the batch, so that
  batched inference is tensor-only; :meth:`Instances.for_image` takes one image's rows).

Inside a traced model (``torch.export``) row counts are symbolic: lengths are compared with
``torch._check_with`` (a runtime check there, a ``ValueError`` here) and a bool index is turned
into row indices once, so every field gets the same symbolic length.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

__all__ = ["Instances"]

Index = int | slice | list[Any] | NDArray[Any] | torch.Tensor


def _length(value: Any) -> Any:
    """Rows of a field: ``value.shape[0]`` for tensors (a symbolic size while tracing), else
    ``len(value)``."""
    return value.shape[0] if isinstance(value, torch.Tensor) else len(value)


def _as_numpy_index(index: Index) -> int | slice | NDArray[Any]:
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
        if isinstance(np_index, (int, slice)):
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
        image_size: ``(height, width)`` of the image the instances live in; None for the rows
            of a batch (with ``image_index``).
        **fields: initial fields, e.g. ``boxes=np.zeros((0, 4), np.float32)``.

    Example:
        >>> import numpy as np
        >>> inst = Instances((20, 30), boxes=np.array([[0, 0, 5, 5], [1, 1, 2, 3]], np.float32),
        ...                  labels=np.array([3, 1]))
        >>> kept = inst[inst.labels > 2]
        >>> len(kept), kept.labels.tolist()
        (1, [3])
    """

    image_size: tuple[int, int] | None

    def __init__(self, image_size: tuple[int, int] | None = None, **fields: Any) -> None:
        if image_size is not None:
            if len(image_size) != 2:
                raise ValueError(f"image_size must be (height, width), got {image_size!r}")
            image_size = (int(image_size[0]), int(image_size[1]))
        object.__setattr__(self, "image_size", image_size)
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
        other = next((v for k, v in self._fields.items() if k != name), None)
        if other is not None:
            length, expected = _length(value), _length(other)
            torch._check_with(
                ValueError,
                length == expected,
                lambda: (
                    f"adding field {name!r} of length {length} to Instances of length {expected}"
                ),
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
            return int(_length(value))
        return 0

    def __contains__(self, name: object) -> bool:
        return name in self._fields

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("Instances is not iterable; index it or read its fields")

    def __getitem__(self, index: Index) -> Instances:
        """Instances with every field indexed by ``index`` (an int keeps a length-1 result)."""
        if isinstance(index, (int, np.integer)) and not -len(self) <= index < len(self):
            raise IndexError(f"Instances index {index} out of range for length {len(self)}")
        if isinstance(index, torch.Tensor) and index.dtype == torch.bool:
            index = torch.nonzero(index).squeeze(1)  # once: every field gets the same rows
        out = Instances(self.image_size)
        for name, value in self._fields.items():
            out._fields[name] = _index_field(value, index)
        return out

    @staticmethod
    def batch(per_image: Sequence[Instances]) -> Instances:
        """One flat ``Instances`` of a batch's per-image tensor fields, in image order, with
        ``image_index`` (int64 ``[N]``) added and no ``image_size``."""
        if not per_image:
            raise ValueError("Instances.batch needs the instances of at least one image")
        return Instances.cat([_with_image_index(inst, i) for i, inst in enumerate(per_image)])

    def for_image(self, index: int) -> Instances:
        """The rows of image ``index`` of a flat batch (``image_index == index``), in order."""
        return self[self.image_index == index]

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


def _with_image_index(inst: Instances, index: int) -> Instances:
    fields = inst.fields()
    like = next(iter(fields.values()), None)
    if not isinstance(like, torch.Tensor):
        raise TypeError("Instances.batch needs tensor fields")
    rows = torch.full((like.shape[0],), index, dtype=torch.long, device=like.device)
    return Instances(None, **fields, image_index=rows)
