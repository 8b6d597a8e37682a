"""``tools/misc/convert_config.py``: the seed config converted to v3 and back builds the same
model, gives the same pipeline outputs and the same optimizer and LR schedule; the report
lists what did not map; the v3 file is a v3 config (loadable by detkit with v3 semantics)."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

import detkit
from detkit.config.v3 import config_generation
from detkit.engine.optim import build_optimizer, lr_hook_config
from detkit.registry import HOOKS, build

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py"


def _tool() -> Any:
    spec = importlib.util.spec_from_file_location(
        "convert_config", REPO / "tools/misc/convert_config.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _on_sample(cfg: Any, root: Path) -> None:
    """Point the train/val datasets at the sample (same keys in both layouts)."""
    cfg.merge_from_dict(
        {
            "data.train.dataset.ann_file": str(
                root / "annotations/instancesonly_filtered_gtFine_train.json"
            ),
            "data.train.dataset.img_prefix": str(root / "leftImg8bit/train"),
            "data.val.ann_file": str(root / "annotations/instancesonly_filtered_gtFine_val.json"),
            "data.val.img_prefix": str(root / "leftImg8bit/val"),
        }
    )


def _sample_outputs(cfg: Any, split: str, seed: int) -> list[Any]:
    dataset = detkit.build_dataset(cfg.data[split], dict(test_mode=split != "train"))
    outputs = []
    for index in range(len(dataset)):
        np.random.seed(seed + index)
        random.seed(seed + index)
        outputs.append(dataset[index])
    return outputs


def _assert_same(a: Any, b: Any, path: str = "") -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for key in a:
            _assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}.{i}")
    elif hasattr(a, "data") and hasattr(a, "cpu_only"):  # DataContainer
        _assert_same(a.data, b.data, path)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), path
    elif hasattr(a, "masks"):
        assert np.array_equal(a.masks, b.masks), path
    else:
        assert a == b, path


def _lrs(cfg: Any, epochs: int = 10, iters_per_epoch: int = 120) -> list[float]:
    """The LR of every iteration of a run, as the config's LR hook sets it."""
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(model, cfg.optimizer)
    hook = build(lr_hook_config(cfg.lr_config), HOOKS)
    runner = SimpleNamespace(
        optimizer=optimizer, epoch=0, iter=0, max_epochs=epochs,
        max_iters=epochs * iters_per_epoch, data_loader=range(iters_per_epoch),
    )  # fmt: skip
    hook.before_run(runner)
    lrs = []
    for runner.epoch in range(epochs):
        hook.before_train_epoch(runner)
        for _ in range(iters_per_epoch):
            hook.before_train_iter(runner)
            lrs.append(optimizer.param_groups[0]["lr"])
            runner.iter += 1
    return lrs


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_seed_config_round_trip(tmp_path, sample_root, capsys):
    v3_file, v2_file = tmp_path / "seed_v3.py", tmp_path / "seed_v2.py"
    assert _tool().main([str(SEED), str(v3_file), "--to", "v3"]) == 0
    report = capsys.readouterr().out
    assert "train_pipeline.2.policies.0.0: v2 Rotate has no exact v3 equivalent" in report
    raw = detkit.Config.fromfile(v3_file, translate=False)
    assert config_generation(raw) == "v3" and "data_preprocessor" in raw.model
    assert _tool().main([str(v3_file), str(v2_file), "--to", "v2"]) == 0
    original = detkit.Config.fromfile(SEED)
    for back in (detkit.Config.fromfile(v2_file), detkit.Config.fromfile(v3_file)):
        assert config_generation(back) == "v2"
        models = []
        for cfg in (original, back):
            torch.manual_seed(0)
            cfg.model.backbone.init_cfg = None
            models.append(detkit.build_detector(cfg.model))
        _assert_same(models[0].state_dict(), models[1].state_dict())
        for cfg in (original, back):
            _on_sample(cfg, sample_root)
        for split in ("train", "val"):
            _assert_same(_sample_outputs(original, split, 3), _sample_outputs(back, split, 3))
        opts = [build_optimizer(m, c.optimizer).defaults for m, c in zip(models, (original, back))]
        assert opts[0] == opts[1]
        assert _lrs(original) == _lrs(back)
        assert back.runner == {"type": "EpochBasedRunner", "max_epochs": 10}
        assert back.evaluation.metric == original.evaluation.metric


def test_already_of_the_target_generation(tmp_path, capsys):
    assert _tool().main([str(SEED), str(tmp_path / "x.py"), "--to", "v2"]) == 1
    assert "already an MMDetection v2 config" in capsys.readouterr().err


def test_v3_native_writes_the_nearest_v3_transforms(tmp_path):
    out = tmp_path / "native.py"
    assert _tool().main([str(SEED), str(out), "--to", "v3", "--v3-native"]) == 0
    policies = detkit.Config.fromfile(out, translate=False).train_pipeline[2].policies
    assert policies[0][0] == dict(
        type="Rotate", level=5, prob=0.5, max_mag=30.0, reversal_prob=0.5,
        img_border_value=(124, 116, 104),
    )  # fmt: skip
    assert policies[1][1]["type"] == "TranslateX"


def test_mixed_generations_are_an_error(tmp_path):
    path = tmp_path / "mixed.py"
    path.write_text(
        "optimizer = dict(type='SGD', lr=0.1)\noptim_wrapper = dict(optimizer=optimizer)\n"
    )
    with pytest.raises(
        ValueError, match=r"mixes MMDetection v2 keys \(optimizer\) with v3 keys \(optim_wrapper\)"
    ):
        detkit.Config.fromfile(path)
