"""Resolve a checkpoint name to a local file: paths, ``http(s)://``/``file://`` URLs (cached
with torch.hub), ``torchvision://``, ``modelzoo://`` and ``open-mmlab://`` names.

Nothing here downloads unless a URL is asked for and not yet cached; offline, the error names
the exact cache path where the file can be put by hand.
"""

from __future__ import annotations

import os
import urllib.error
from urllib.parse import urlparse

import torch.hub

__all__ = [
    "resolve_checkpoint_path",
    "hub_cache_path",
    "torchvision_weights_url",
    "OPEN_MMLAB_URLS",
]

_URL_SCHEMES = ("http://", "https://", "file://")

# A subset of mmcv's ``open_mmlab.json`` (the ImageNet backbones mmdet v2 configs name).
OPEN_MMLAB_URLS: dict[str, str] = {
    "vgg16_caffe": "https://download.openmmlab.com/pretrain/third_party/vgg16_caffe-292e1171.pth",
    "detectron/resnet50_caffe": "https://download.openmmlab.com/pretrain/third_party/resnet50_caffe-788b5fa3.pth",
    "detectron2/resnet50_caffe": "https://download.openmmlab.com/pretrain/third_party/resnet50_msra-5891d200.pth",
    "detectron/resnet101_caffe": "https://download.openmmlab.com/pretrain/third_party/resnet101_caffe-3ad79236.pth",
    "resnet50_caffe": "https://download.openmmlab.com/pretrain/third_party/resnet50_caffe-788b5fa3.pth",
    "resnet101_caffe": "https://download.openmmlab.com/pretrain/third_party/resnet101_caffe-3ad79236.pth",
    "resnext101_32x4d": "https://download.openmmlab.com/pretrain/third_party/resnext101_32x4d-a5af3160.pth",
    "resnext101_64x4d": "https://download.openmmlab.com/pretrain/third_party/resnext101_64x4d-ee2c6f71.pth",
}


def hub_cache_path(url: str, model_dir: str | None = None) -> str:
    """Where ``url`` is cached: ``<torch.hub.get_dir()>/checkpoints/<file name>`` (as
    ``torch.hub.load_state_dict_from_url``), or ``<model_dir>/<file name>``."""
    filename = os.path.basename(urlparse(url).path)
    if not filename:
        raise ValueError(f"checkpoint URL {url!r} does not end in a file name")
    directory = (
        model_dir if model_dir is not None else os.path.join(torch.hub.get_dir(), "checkpoints")
    )
    return os.path.join(directory, filename)


def _download_to_cache(url: str, model_dir: str | None, progress: bool) -> str:
    cached = hub_cache_path(url, model_dir)
    if os.path.isfile(cached):
        return cached
    os.makedirs(os.path.dirname(cached), exist_ok=True)
    match = torch.hub.HASH_REGEX.search(os.path.basename(cached))
    hash_prefix = match.group(1) if match else None
    try:
        torch.hub.download_url_to_file(url, cached, hash_prefix=hash_prefix, progress=progress)
    except (urllib.error.URLError, OSError) as exc:
        raise FileNotFoundError(
            f"could not download checkpoint {url} ({exc}). Offline? Download it elsewhere and "
            f"put it at {cached} (the torch.hub cache; set TORCH_HOME to move it), or pass a "
            "local path instead of the URL."
        ) from exc
    return cached


def torchvision_weights_url(name: str) -> str:
    """URL of torchvision's ImageNet weights for model ``name`` (e.g. ``'resnet50'`` ->
    ``ResNet50_Weights.IMAGENET1K_V1.url``, the weights mmcv's ``torchvision://`` loads).
    ``'resnet50.IMAGENET1K_V2'`` picks another entry of the weights enum."""
    import torchvision.models

    model_name, _, entry = name.partition(".")
    try:
        weights_enum = torchvision.models.get_model_weights(model_name)
    except (ValueError, KeyError) as exc:
        raise KeyError(
            f"torchvision://{name}: torchvision has no model named {model_name!r} "
            f"(see torchvision.models.list_models())"
        ) from exc
    members = weights_enum.__members__
    if not entry:
        entry = "IMAGENET1K_V1" if "IMAGENET1K_V1" in members else "DEFAULT"
    if entry not in members:
        raise KeyError(
            f"torchvision://{name}: {weights_enum.__name__} has no {entry!r}; choose from "
            f"{sorted(members)}"
        )
    return members[entry].url


def resolve_checkpoint_path(
    filename: str, model_dir: str | None = None, progress: bool = True
) -> str:
    """Turn a checkpoint name into a local file path, downloading URLs into the hub cache.

    Args:
        filename: a local path, ``http(s)://`` or ``file://`` URL, ``torchvision://resnet50``,
            ``modelzoo://resnet50`` (old alias of ``torchvision://``) or
            ``open-mmlab://resnet50_caffe``.
        model_dir: cache directory for downloads (default: torch.hub's ``checkpoints`` dir).
        progress: show a download progress bar.

    Raises:
        FileNotFoundError: a local file is missing, or a download failed (names the cache path).
        KeyError: an unknown ``torchvision://``/``open-mmlab://`` name.
    """
    if not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f"checkpoint filename must be a str or path, got {type(filename).__name__}")
    filename = os.fspath(filename)
    if filename.startswith(("torchvision://", "modelzoo://")):
        return _download_to_cache(
            torchvision_weights_url(filename.split("://", 1)[1]), model_dir, progress
        )
    if filename.startswith(("open-mmlab://", "openmmlab://")):
        name = filename.split("://", 1)[1]
        if name not in OPEN_MMLAB_URLS:
            raise KeyError(
                f"{filename}: unknown open-mmlab model name {name!r}; known: "
                f"{sorted(OPEN_MMLAB_URLS)}. "
                "Pass the file's URL or a local path instead."
            )
        return _download_to_cache(OPEN_MMLAB_URLS[name], model_dir, progress)
    if filename.startswith(_URL_SCHEMES):
        return _download_to_cache(filename, model_dir, progress)
    if "://" in filename:
        raise ValueError(f"unsupported checkpoint scheme in {filename!r}")
    path = os.path.expanduser(filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint file {filename} does not exist")
    return path
