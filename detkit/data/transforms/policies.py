"""``AutoAugment(policies)``: pick one policy uniformly per sample and apply its transforms.

MMDetection v2 semantics: ``policies`` is a non-empty list of non-empty lists of transform
configs (any registered pipeline transform may appear); per call one policy is chosen with
``np.random.choice`` and its transforms run in order, each drawing its own ``prob``. A
transform returning None ends the chain with None (as ``Compose``). torchvision's
``v2.AutoAugment`` rejects boxes and masks, hence this selector.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from detkit.registry import PIPELINES, build

__all__ = ["AutoAugment"]

Transform = Callable[[dict[str, Any]], dict[str, Any] | None]


@PIPELINES.register_module()
class AutoAugment:
    """Random choice among augmentation policies.

    Args:
        policies: ``[[dict(type='Rotate', level=5, ...), ...], ...]``; each inner list is one
            policy, applied as a whole. Built transforms are accepted in place of dicts.
        prob: MMDetection 3.x's per-policy probabilities (None: v2's uniform choice).

    Example:
        >>> import numpy as np
        >>> from detkit.data.transforms.policies import AutoAugment
        >>> aug = AutoAugment([[dict(type='Translate', level=10, prob=1.0,
        ...                          max_translate_offset=1, random_negative_prob=0.0)]])
        >>> out = aug({'img': np.arange(4, dtype=np.uint8).reshape(1, 4, 1).repeat(3, 2)})
        >>> out['img'][0, :, 0].tolist()
        [128, 0, 1, 2]
    """

    def __init__(
        self,
        policies: Sequence[Sequence[Mapping[str, Any] | Transform]],
        prob: Sequence[float] | None = None,
    ) -> None:
        if not isinstance(policies, (list, tuple)) or len(policies) == 0:
            raise ValueError(
                f"AutoAugment: policies must be a non-empty list of lists, got {policies!r}"
            )
        for i, policy in enumerate(policies):
            if not isinstance(policy, (list, tuple)) or len(policy) == 0:
                raise ValueError(
                    f"AutoAugment: policies[{i}] must be a non-empty list of transforms, got "
                    f"{policy!r}"
                )
            for j, transform in enumerate(policy):
                if isinstance(transform, Mapping) and "type" not in transform:
                    raise KeyError(
                        f"AutoAugment: policies[{i}][{j}] has no 'type' key: {transform!r}"
                    )
        if prob is not None and (
            len(prob) != len(policies) or not np.isclose(sum(prob), 1.0) or min(prob) < 0
        ):
            raise ValueError(
                "AutoAugment: prob must give one probability per policy, summing to 1, "
                f"got {prob!r}"
            )
        self.prob = None if prob is None else [float(p) for p in prob]
        self.policies = [list(p) for p in policies]
        self.transforms: list[list[Transform]] = [
            [build(t, PIPELINES) for t in policy] for policy in policies
        ]

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        if self.prob is None:  # v2: one uniform draw
            chosen = self.transforms[np.random.choice(len(self.transforms))]
        else:  # v3 (mmcv 2's RandomChoice): weighted draw
            chosen = self.transforms[np.random.choice(np.arange(len(self.transforms)), p=self.prob)]
        for transform in chosen:
            out = transform(results)
            if out is None:
                return None
            results = out
        return results

    def __repr__(self) -> str:
        prob = "" if self.prob is None else f", prob={self.prob}"
        return f"AutoAugment(policies={self.policies}{prob})"
