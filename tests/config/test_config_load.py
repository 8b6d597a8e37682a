"""``Config.load``: the steps in order, idempotence, strict options, and the schema hook."""

from __future__ import annotations

import pytest

from detkit.config import Config, load_config, register_schema_translator
from detkit.config import translators as translators_module
from detkit.config.settings import evaluation_kwargs, loader_settings, setting


def write(tmp_path, text: str) -> str:
    path = tmp_path / "cfg.py"
    path.write_text(text)
    return str(path)


def test_steps_in_mmdet_order(tmp_path):
    path = write(
        tmp_path,
        "data_root = 'old/'\nscale = (4, 2)\n"
        "data = dict(test=dict(ann_file='${data_root}a.json', scale='${scale}'))\n"
        "total_epochs = 3\n",
    )
    with pytest.warns(UserWarning, match="legacy `total_epochs = 3`"):
        cfg = load_config(path, {"data.test.extra": 1}, environ={"MMDET_DATASETS": "/new/"})
    assert cfg.data.test.ann_file == "/new/a.json"  # reference resolved, then the root swapped
    assert cfg.data.test.scale == (4, 2) and cfg.data.test.extra == 1
    assert cfg.runner == {"type": "EpochBasedRunner", "max_epochs": 3}
    assert cfg.filename == path


def test_loading_a_config_again_changes_nothing_and_copies(tmp_path):
    cfg = Config(dict(data_root="r/", data=dict(a="${data_root}x"), runner=dict(max_epochs=1)))
    once = load_config(cfg, environ={"MMDET_DATASETS": "/d/"})
    twice = load_config(once, environ={"MMDET_DATASETS": "/d/"})
    assert once == twice and once.data.a == "/d/x"
    assert cfg.data.a == "${data_root}x"  # the input is not changed


def test_strict_options_and_missing_files(tmp_path):
    path = write(tmp_path, "data = dict(samples_per_gpu=2)\n")
    with pytest.raises(KeyError, match="closest existing key: `data.samples_per_gpu`"):
        Config.load(path, {"data.sample_per_gpu": 4}, strict=True)
    with pytest.warns(UserWarning, match="data.sample_per_gpu"):
        Config.load(path, {"data.sample_per_gpu": 4})
    with pytest.raises(FileNotFoundError, match="config file not found: .*nope.py"):
        Config.load(tmp_path / "nope.py")
    with pytest.raises(TypeError, match="file path or a Config"):
        Config.load(3)  # type: ignore[arg-type]


def test_schema_translator_runs_before_references_and_options(tmp_path, monkeypatch):
    """A registered translator rewrites the file as it is read, before ``${}`` references and
    options (which address v2 keys); the built-in MMDetection 3.x translator stays first."""
    monkeypatch.setattr(translators_module, "_TRANSLATORS", list(translators_module._TRANSLATORS))
    seen = []

    @register_schema_translator
    def other_schema(cfg, where):
        seen.append((dict(cfg), where))
        if "my_loader" not in cfg:
            return None
        batch = cfg["my_loader"]["batch_size"]
        return dict(data=dict(samples_per_gpu=batch), size="${data.samples_per_gpu}")

    register_schema_translator(other_schema)  # twice: asked once
    path = write(tmp_path, "my_loader = dict(batch_size=3)\n")
    cfg = Config.load(path, {"data.workers_per_gpu": 0})
    assert cfg.to_dict() == {"data": {"samples_per_gpu": 3, "workers_per_gpu": 0}, "size": 3}
    assert len(seen) == 1 and seen[0][1] == f"config file {path}"
    assert Config.fromfile(path, translate=False).to_dict() == {"my_loader": {"batch_size": 3}}
    plain = Config.load(write(tmp_path, "a = 1\n"))
    assert plain.to_dict() == {"a": 1}


def test_settings_one_table_of_defaults():
    cfg = Config(
        dict(
            data=dict(samples_per_gpu=4, test=dict(samples_per_gpu=2), val_dataloader=dict(x=1)),
            evaluation=dict(interval=1, save_best="auto", metric="bbox", iou_thrs=[0.5]),
            log_config=None,
        )
    )
    assert loader_settings(cfg, "train") == {"samples_per_gpu": 4, "workers_per_gpu": 2}
    assert loader_settings(cfg, "test") == {"samples_per_gpu": 2, "workers_per_gpu": 2}
    assert loader_settings(cfg, "val") == {"samples_per_gpu": 1, "workers_per_gpu": 2, "x": 1}
    assert evaluation_kwargs(cfg) == {"metric": "bbox", "iou_thrs": [0.5]}
    assert setting(cfg, "log_config.interval") == 50  # None counts as unset
    with pytest.raises(KeyError, match="no default for it"):
        setting(cfg, "nothing.here")
