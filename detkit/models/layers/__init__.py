"""Building blocks shared by the models, with mmcv's names and parameter keys.

``ConvModule`` (conv → norm → activation) and the builders every backbone, neck and head
uses: ``build_conv_layer`` (``Conv2d``, ``ConvWS``, ``DCN``, ``DCNv2``, ``deconv``),
``build_norm_layer`` (``BN``, ``SyncBN``, ``MMSyncBN``, ``GN``, ``LN``, ``IN``),
``build_activation``, ``build_plugin_layer`` (``ContextBlock``, ``GeneralizedAttention``),
``build_upsample_layer`` (``nearest``, ``bilinear``, ``deconv``, ``pixel_shuffle``,
``carafe``); transformer parts; the mmcv initialisers and ``init_cfg`` handling.
"""

from detkit.models.layers.carafe import CARAFEPack, carafe
from detkit.models.layers.context_block import ContextBlock
from detkit.models.layers.conv import ConvWS2d, build_conv_layer, conv_ws_2d
from detkit.models.layers.conv_module import ConvModule, build_activation
from detkit.models.layers.deform_conv import (
    DeformConv2d,
    DeformConv2dPack,
    ModulatedDeformConv2d,
    ModulatedDeformConv2dPack,
)
from detkit.models.layers.deform_roi_pool import (
    DeformRoIPool,
    DeformRoIPoolPack,
    ModulatedDeformRoIPoolPack,
    deform_roi_pool,
)
from detkit.models.layers.fuse_conv_bn import fuse_conv_bn
from detkit.models.layers.generalized_attention import GeneralizedAttention
from detkit.models.layers.non_local import NonLocal2d
from detkit.models.layers.norm import SyncBatchNorm, batch_norm_eval, build_norm_layer
from detkit.models.layers.normed_predictor import NormedConv2d, NormedLinear, build_linear_layer
from detkit.models.layers.plugin import build_plugin_layer
from detkit.models.layers.transformer import (
    FFN,
    AdaptivePadding,
    DropPath,
    PatchEmbed,
    PatchMerging,
)
from detkit.models.layers.upsample import PixelShufflePack, build_upsample_layer
from detkit.models.layers.weight_init import (
    apply_init_cfg,
    caffe2_xavier_init,
    constant_init,
    init_children,
    kaiming_init,
    normal_init,
    trunc_normal_init,
    uniform_init,
    xavier_init,
)

__all__ = [
    "FFN",
    "AdaptivePadding",
    "CARAFEPack",
    "ContextBlock",
    "ConvModule",
    "ConvWS2d",
    "DeformConv2d",
    "DeformConv2dPack",
    "DeformRoIPool",
    "DeformRoIPoolPack",
    "DropPath",
    "GeneralizedAttention",
    "ModulatedDeformConv2d",
    "ModulatedDeformConv2dPack",
    "ModulatedDeformRoIPoolPack",
    "NonLocal2d",
    "NormedConv2d",
    "NormedLinear",
    "PatchEmbed",
    "PatchMerging",
    "PixelShufflePack",
    "SyncBatchNorm",
    "apply_init_cfg",
    "batch_norm_eval",
    "build_activation",
    "build_conv_layer",
    "build_linear_layer",
    "build_norm_layer",
    "build_plugin_layer",
    "build_upsample_layer",
    "caffe2_xavier_init",
    "carafe",
    "constant_init",
    "conv_ws_2d",
    "deform_roi_pool",
    "fuse_conv_bn",
    "init_children",
    "kaiming_init",
    "normal_init",
    "trunc_normal_init",
    "uniform_init",
    "xavier_init",
]
