"""MMDetection 3.x checkpoints written the way MMEngine's runner writes them (with MMEngine's
own classes: ``MessageHub``, ``OptimWrapper``, ``LinearLR``/``MultiStepLR``,
``save_checkpoint``; mmengine-lite is a dev dependency) load in detkit without importing
MMEngine and without running pickled code; the classes come from ``meta['dataset_meta']``;
``resume`` restores epoch, iteration and optimizer and names what it cannot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_v3 import OPTIONS, V3_CHILD, VAL_ANN

import detkit
from detkit.checkpoint import read_checkpoint

CLASSES = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
REPO = Path(__file__).resolve().parents[2]


class Unknown:
    """A class the loader does not know (and the loading process cannot import)."""

    def __init__(self) -> None:
        self.payload = [1, 2, 3]


class _Evil:
    """Pickles as a call of ``os.system``: a safe loader must never run it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def _v3_config(tmp_path: Path, tree: Path, root: Path, **extra: str) -> Path:
    path = tmp_path / "v3_cascade.py"
    text = V3_CHILD.format(tree=tree, root=root, val_ann=VAL_ANN)
    path.write_text(text + "".join(f"{k} = {v}\n" for k, v in extra.items()))
    return path


def _model(config: Path) -> torch.nn.Module:
    cfg = detkit.Config.fromfile(config)
    cfg.merge_from_dict(OPTIONS)
    return detkit.build_detector(cfg.model)


def write_mmengine_checkpoint(path: Path, model: torch.nn.Module, extra: dict | None = None):
    """``Runner.save_checkpoint``'s dict, built from MMEngine's own objects."""
    import mmengine
    from mmengine.logging import MessageHub
    from mmengine.optim import OptimWrapper
    from mmengine.optim.scheduler import LinearLR, MultiStepLR
    from mmengine.runner.checkpoint import save_checkpoint, weights_to_cpu

    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)  # MMEngine: all
    wrapper = OptimWrapper(optimizer)
    schedulers = [
        LinearLR(optimizer, start_factor=0.001, by_epoch=False, begin=0, end=500),
        MultiStepLR(optimizer, milestones=[7], by_epoch=True, begin=0, end=8),
    ]
    wrapper.update_params(sum(p.square().sum() for p in model.parameters() if p.requires_grad))
    schedulers[0].step()
    hub = MessageHub.get_instance(f"detkit-test-{path.name}")
    for value in (2.5, 2.0):
        hub.update_scalar("train/loss", value)
    hub.update_info("iter", 2)
    meta = dict(
        epoch=1,
        iter=2,
        cfg="model = dict(type='CascadeRCNN')\n",
        seed=0,
        experiment_name="v3_cascade",
        time="20240101_000000",
        mmengine_version=mmengine.__version__,
        dataset_meta=dict(classes=CLASSES, palette=[(220, 20, 60)] * 8),
    )
    checkpoint = {
        "meta": meta,
        "state_dict": weights_to_cpu(model.state_dict()),
        "message_hub": hub.state_dict(),
        "optimizer": wrapper.state_dict(),
        "param_schedulers": [s.state_dict() for s in schedulers],
        **(extra or {}),
    }
    save_checkpoint(checkpoint, str(path))
    return checkpoint


def test_mmengine_checkpoint_reads_without_mmengine(tmp_path, mmdet3_tree, sample_root):
    config = _v3_config(tmp_path, mmdet3_tree, sample_root)
    model = _model(config)
    write_mmengine_checkpoint(tmp_path / "v3.pth", model, {"custom": Unknown()})
    script = (
        "import sys, json; sys.modules['mmengine'] = None\n"  # importing MMEngine fails
        "import warnings; warnings.simplefilter('ignore')\n"
        "from detkit.checkpoint import read_checkpoint\n"
        f"c = read_checkpoint({str(tmp_path / 'v3.pth')!r})\n"
        "hub = c['message_hub']['log_scalars']['train/loss']\n"
        "print(json.dumps(dict(classes=c['meta']['CLASSES'], config=c['meta']['config'],\n"
        "    palette=c['meta']['PALETTE'][0], loss=hub['log_history'],\n"
        "    milestones=c['param_schedulers'][1]['milestones'],\n"
        "    skipped=c['skipped_objects'], custom=c['custom'], keys=sorted(c))))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["classes"] == list(CLASSES) and out["palette"] == [220, 20, 60]
    assert out["config"].startswith("model = dict(type='CascadeRCNN')")
    assert out["loss"] == [2.5, 2.0] and out["milestones"] == {"7": 1}
    assert out["custom"] is None
    assert out["skipped"] == [f"checkpoint.custom: {Unknown.__module__}.Unknown"]
    assert {"message_hub", "optimizer", "param_schedulers", "state_dict"} <= set(out["keys"])


def test_a_checkpoint_that_calls_os_functions_is_refused(tmp_path):
    marker = tmp_path / "pickle_code_ran"
    torch.save({"state_dict": {}, "evil": _Evil(marker)}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match=r"calls posix\.system when unpickled"):
        read_checkpoint(str(tmp_path / "evil.pth"))
    assert not marker.exists()  # the pickled os.system call never ran


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_init_detector_takes_classes_from_dataset_meta(tmp_path, mmdet3_tree, sample_root):
    config = _v3_config(tmp_path, mmdet3_tree, sample_root)
    model = _model(config)
    write_mmengine_checkpoint(tmp_path / "v3.pth", model)
    loaded = detkit.init_detector(str(config), str(tmp_path / "v3.pth"), cfg_options=OPTIONS)
    assert loaded.CLASSES == CLASSES
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_resume_from_a_v3_checkpoint(tmp_path, mmdet3_tree, sample_root, caplog):
    written = write_mmengine_checkpoint(
        tmp_path / "v3.pth", _model(_v3_config(tmp_path, mmdet3_tree, sample_root))
    )
    config = _v3_config(
        tmp_path, mmdet3_tree, sample_root, load_from=repr(str(tmp_path / "v3.pth")), resume="True"
    )
    cfg = detkit.Config.fromfile(config)
    assert cfg.resume_from == str(tmp_path / "v3.pth") and cfg.get("load_from") is None
    cfg.merge_from_dict(OPTIONS)
    cfg.work_dir = str(tmp_path / "work")
    runner = detkit.setup_training(cfg, seed=0).train(validate=False)
    assert runner.epoch == 2 and runner.iter == 4  # resumed after epoch 1 (2 iterations)
    log = next((tmp_path / "work").glob("*.log")).read_text()
    assert "not restored: message_hub" in log and "param_schedulers (not needed" in log
    saved_state = written["optimizer"]["state"]
    assert len(saved_state) > len(runner.optimizer.state_dict()["state"]) - 1 > 0
