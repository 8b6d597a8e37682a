"""Swin Transformer backbone (MMDetection v2 ``SwinTransformer``, Liu et al., 2021).

Keys: ``patch_embed.{projection,norm}``, ``stages.{i}.blocks.{j}.{norm1,attn.w_msa.*,norm2,
ffn.layers.*}``, ``stages.{i}.downsample.{norm,reduction}``, ``norm{i}`` per output (and
``absolute_pos_embed``), as mmdet's. :func:`swin_converter` maps the original Swin
repository's ImageNet checkpoints (``layers.*``, ``attn.*``, ``mlp.fc1/fc2``,
``patch_embed.proj``) onto them, as MMDetection does under ``convert_weights=True``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.backbones.resnet import is_pretrained, resolve_init_cfg
from detkit.models.backbones.swin_blocks import SwinBlockSequence
from detkit.models.layers import (
    PatchEmbed,
    PatchMerging,
    build_norm_layer,
    constant_init,
    trunc_normal_init,
)
from detkit.registry import MODELS

__all__ = ["SwinTransformer", "swin_converter"]


def _unfold_order(x: torch.Tensor) -> torch.Tensor:
    """Reorder PatchMerging's concatenated 2×2 neighbours from the original repository's
    order (x0, x1, x2, x3 = (0,0), (1,0), (0,1), (1,1)) to ``nn.Unfold``'s channel-major
    one; ``x`` is the reduction weight ``[out, 4·C]`` or the norm's ``[4·C]``."""
    if x.dim() == 1:
        return x.reshape(4, -1)[[0, 2, 1, 3]].transpose(0, 1).reshape(-1)
    out_channels = x.shape[0]
    return x.reshape(out_channels, 4, -1)[:, [0, 2, 1, 3]].transpose(1, 2).reshape(out_channels, -1)


def swin_converter(checkpoint: Mapping[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """Keys of an original Swin checkpoint → mmdet's, prefixed ``backbone.`` (``head.*``
    dropped), with the patch-merging weights reordered (mmdet's ``swin_converter``)."""
    converted: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in checkpoint.items():
        if key.startswith("head"):
            continue
        new_key, new_value = key, value
        if key.startswith("layers"):
            if "attn." in key:
                new_key = key.replace("attn.", "attn.w_msa.")
            elif "mlp.fc1." in key:
                new_key = key.replace("mlp.fc1.", "ffn.layers.0.0.")
            elif "mlp.fc2." in key:
                new_key = key.replace("mlp.fc2.", "ffn.layers.1.")
            elif "mlp." in key:
                new_key = key.replace("mlp.", "ffn.")
            elif "downsample" in key and ("reduction." in key or "norm." in key):
                new_value = _unfold_order(value)
            new_key = new_key.replace("layers", "stages", 1)
        elif key.startswith("patch_embed") and "proj" in key:
            new_key = key.replace("proj", "projection")
        converted["backbone." + new_key] = new_value
    return converted


@MODELS.register_module()
class SwinTransformer(nn.Module):
    """Swin Transformer: patch embedding, four stages of (shifted) window attention with
    patch merging between them, a LayerNorm per output.

    Args:
        pretrain_img_size: image size of the pretraining (sizes ``absolute_pos_embed``).
        in_channels: image channels.
        embed_dims: channels of the first stage (96 for Swin-T/S, 128 for Swin-B).
        patch_size: patch-embedding kernel and stride (must equal ``strides[0]``).
        window_size: attention window side (7).
        mlp_ratio: FFN width over the embedding width.
        depths, num_heads: per stage (Swin-T: (2, 2, 6, 2), (3, 6, 12, 24)).
        strides: patch embedding / merging strides.
        out_indices: stages returned.
        qkv_bias, qk_scale: attention projections.
        patch_norm: LayerNorm after patch embedding and in patch merging.
        drop_rate, attn_drop_rate: dropout rates.
        drop_path_rate: stochastic depth, rising linearly over the blocks to this rate.
        use_abs_pos_embed: learned absolute position embedding ``[1, L, C]`` over the
            pretraining grid (mmdet's shape; resized bicubically for other input sizes,
            where mmdet's addition fails).
        act_cfg, norm_cfg: FFN activation and norms.
        with_cp: activation checkpointing per block.
        pretrained: v2 key, same as ``init_cfg=dict(type='Pretrained', checkpoint=...)``.
        convert_weights: the ``Pretrained`` checkpoint is the original Swin repository's
            (keys converted by :func:`swin_converter`).
        frozen_stages: -1 = none; k >= 0 freezes the patch embedding and stages 1..k.
        init_cfg: ``None`` (truncated-normal linears, LayerNorm 1 / 0) or ``Pretrained``.

    Input ``[B, 3, H, W]``; output a list of ``[B, embed_dims · 2**i, H / 2**(i+2), ...]``.
    """

    def __init__(
        self,
        pretrain_img_size: int | tuple[int, ...] = 224,
        in_channels: int = 3,
        embed_dims: int = 96,
        patch_size: int = 4,
        window_size: int = 7,
        mlp_ratio: float = 4,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        strides: Sequence[int] = (4, 2, 2, 2),
        out_indices: Sequence[int] = (0, 1, 2, 3),
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        patch_norm: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        use_abs_pos_embed: bool = False,
        act_cfg: Mapping[str, Any] = {"type": "GELU"},  # noqa: B006 - read only
        norm_cfg: Mapping[str, Any] = {"type": "LN"},  # noqa: B006 - read only
        with_cp: bool = False,
        pretrained: str | None = None,
        convert_weights: bool = False,
        frozen_stages: int = -1,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(pretrain_img_size, int):
            pretrain_img_size = (pretrain_img_size, pretrain_img_size)
        elif len(pretrain_img_size) == 1:
            pretrain_img_size = (pretrain_img_size[0], pretrain_img_size[0])
        if len(pretrain_img_size) != 2:
            raise ValueError(
                f"pretrain_img_size must be an int or 1-2 ints, got {pretrain_img_size}"
            )
        if strides[0] != patch_size:
            raise ValueError(
                f"SwinTransformer strides[0]={strides[0]} must equal patch_size={patch_size}"
            )
        if len(num_heads) != len(depths):
            raise ValueError(
                f"num_heads {tuple(num_heads)} needs one entry per stage of depths {tuple(depths)}"
            )
        cfg = resolve_init_cfg("SwinTransformer", pretrained, init_cfg)
        if cfg is not None and not is_pretrained(cfg):
            raise ValueError(f"SwinTransformer init_cfg must be None or Pretrained, got {cfg!r}")
        self.init_cfg = cfg
        self.convert_weights = convert_weights
        self.frozen_stages = frozen_stages
        self.out_indices = tuple(out_indices)
        self.use_abs_pos_embed = use_abs_pos_embed
        self.patch_embed = PatchEmbed(
            in_channels,
            embed_dims,
            "Conv2d",
            patch_size,
            strides[0],
            norm_cfg=norm_cfg if patch_norm else None,
        )
        self.pos_grid = (pretrain_img_size[0] // patch_size, pretrain_img_size[1] // patch_size)
        if use_abs_pos_embed:
            num_patches = self.pos_grid[0] * self.pos_grid[1]
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, num_patches, embed_dims))
        self.drop_after_pos = nn.Dropout(p=drop_rate)
        rates = [float(r) for r in torch.linspace(0, drop_path_rate, sum(depths))]
        self.stages = nn.ModuleList()
        channels = embed_dims
        for i, depth in enumerate(depths):
            downsample = None
            if i < len(depths) - 1:
                downsample = PatchMerging(
                    channels,
                    2 * channels,
                    stride=strides[i + 1],
                    norm_cfg=norm_cfg if patch_norm else None,
                )
            self.stages.append(
                SwinBlockSequence(
                    channels,
                    num_heads[i],
                    int(mlp_ratio * channels),
                    depth,
                    window_size,
                    qkv_bias,
                    qk_scale,
                    drop_rate,
                    attn_drop_rate,
                    rates[sum(depths[:i]) : sum(depths[: i + 1])],
                    downsample,
                    act_cfg,
                    norm_cfg,
                    with_cp,
                )
            )
            if downsample is not None:
                channels = downsample.out_channels
        self.num_features = [int(embed_dims * 2**i) for i in range(len(depths))]
        self.out_channels = [self.num_features[i] for i in self.out_indices]
        for i in self.out_indices:
            self.add_module(f"norm{i}", build_norm_layer(norm_cfg, self.num_features[i])[1])
        self.init_weights()
        self._freeze_stages()

    def init_weights(self) -> None:
        """mmdet's (``init_cfg=None``): truncated-normal (std 0.02) linear weights and
        absolute position embedding, zero biases, LayerNorms 1 / 0. A ``Pretrained``
        ``init_cfg`` is loaded by the detector through :meth:`pretrained_state_dict`."""
        if is_pretrained(self.init_cfg):
            return
        if self.use_abs_pos_embed:
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_init(m, std=0.02, bias=0.0)
            elif isinstance(m, nn.LayerNorm):
                constant_init(m, 1.0)

    def pretrained_state_dict(self, checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """This backbone's weights from a read checkpoint, as mmdet's ``init_weights``: the
        ``state_dict`` / ``model`` entry, converted when ``convert_weights``, its
        ``backbone.*`` keys (a leading ``module.`` stripped), relative position tables
        resized bicubically to this window size (``absolute_pos_embed`` stays ``[1, L, C]``,
        mmdet's parameter shape)."""
        weights = checkpoint.get("state_dict", checkpoint.get("model", checkpoint))
        if self.convert_weights:
            weights = swin_converter(weights)
        state = {k[len("backbone.") :]: v for k, v in weights.items() if k.startswith("backbone.")}
        if state and next(iter(state)).startswith("module."):
            state = {k[len("module.") :]: v for k, v in state.items()}
        own = self.state_dict()
        for key in [k for k in state if "relative_position_bias_table" in k and k in own]:
            table, wanted = state[key], own[key]
            if table.shape[1] == wanted.shape[1] and table.shape[0] != wanted.shape[0]:
                side, new_side = int(table.shape[0] ** 0.5), int(wanted.shape[0] ** 0.5)
                grid = table.permute(1, 0).reshape(1, -1, side, side)
                resized = F.interpolate(grid, size=(new_side, new_side), mode="bicubic")
                state[key] = resized.view(wanted.shape[1], -1).permute(1, 0).contiguous()
        return state

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen: list[nn.Module] = [self.patch_embed, self.drop_after_pos]
        if self.use_abs_pos_embed:
            self.absolute_pos_embed.requires_grad = False
        for i in range(1, self.frozen_stages + 1):
            if i - 1 in self.out_indices:
                frozen.append(getattr(self, f"norm{i - 1}"))
            frozen.append(self.stages[i - 1])
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> SwinTransformer:
        super().train(mode)
        self._freeze_stages()
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x, hw_shape = self.patch_embed(x)
        if self.use_abs_pos_embed:
            pos: torch.Tensor = self.absolute_pos_embed
            if self.pos_grid != tuple(hw_shape):
                grid = pos.transpose(1, 2).reshape(1, -1, *self.pos_grid)
                grid = F.interpolate(grid, size=hw_shape, mode="bicubic", align_corners=False)
                pos = grid.flatten(2).transpose(1, 2)
            x = x + pos
        x = self.drop_after_pos(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x, hw_shape, out, out_hw = stage(x, hw_shape)
            if i in self.out_indices:
                out = getattr(self, f"norm{i}")(out)
                channels = self.num_features[i]
                outs.append(out.view(-1, *out_hw, channels).permute(0, 3, 1, 2).contiguous())
        return outs
