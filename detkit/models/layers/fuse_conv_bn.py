"""``fuse_conv_bn``: fold each eval-mode BatchNorm into the convolution before it, for inference
(mmcv's ``fuse_conv_bn``, behind ``tools/test.py --fuse-conv-bn``)."""

from __future__ import annotations

import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["fuse_conv_bn"]


def fuse_conv_bn(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm that directly follows a ``Conv2d`` among its siblings (in
    registration order, as ResNet blocks, ``downsample`` and ``ConvModule`` register them) into
    that conv, and replace the BatchNorm by ``nn.Identity``. In place; returns ``module``.

    The model computes the same function (up to float rounding) with one pass fewer over each
    activation. Use it on a model in eval mode for inference only: the state dict loses the
    folded norms' keys, and the BatchNorm statistics can no longer be trained.
    """
    last_conv: tuple[str, nn.Conv2d] | None = None
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and last_conv is not None:
            if child.training or child.running_mean is None:
                raise ValueError(
                    f"fuse_conv_bn: {name!r} must be an eval-mode BatchNorm with "
                    "running statistics (call model.eval() first)"
                )
            conv_name, conv = last_conv
            setattr(module, conv_name, fuse_conv_bn_eval(conv, child))
            setattr(module, name, nn.Identity())
            last_conv = None
        elif isinstance(child, nn.Conv2d):
            last_conv = (name, child)
        else:
            fuse_conv_bn(child)
            last_conv = None
    return module
