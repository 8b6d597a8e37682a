"""Building blocks shared by the models: ConvModule, norm/activation builders, initialisers."""

from detkit.models.layers.conv_module import ConvModule, build_activation, build_norm_layer
from detkit.models.layers.fuse_conv_bn import fuse_conv_bn
from detkit.models.layers.normed_predictor import NormedConv2d, NormedLinear, build_linear_layer
from detkit.models.layers.weight_init import (
    apply_init_cfg,
    constant_init,
    kaiming_init,
    normal_init,
    xavier_init,
)

__all__ = [
    "ConvModule",
    "build_activation",
    "build_norm_layer",
    "fuse_conv_bn",
    "NormedConv2d",
    "NormedLinear",
    "build_linear_layer",
    "apply_init_cfg",
    "constant_init",
    "kaiming_init",
    "normal_init",
    "xavier_init",
]
