"""Tool-side config steps: ${a.b} references, MMDET_DATASETS, work_dir, legacy epochs."""

import pytest

from detkit.config import (
    Config,
    compat_runner_args,
    replace_cfg_vals,
    resolve_work_dir,
    update_data_root,
)


def test_whole_string_reference_keeps_the_type_and_embedded_becomes_text():
    cfg = Config(
        dict(
            base=dict(scale=(512, 256), name="city", n=8),
            scale="${base.scale}",
            path="data/${base.name}/x${base.n}",
            first="${pipeline.0.type}",
            pipeline=[dict(type="Load")],
        ),
        filename="cfg.py",
        text="raw",
    )
    out = replace_cfg_vals(cfg)
    assert out.scale == (512, 256)
    assert out.path == "data/city/x8"
    assert out.first == "Load"
    assert out.filename == "cfg.py" and out.text == "raw"
    assert cfg.scale == "${base.scale}"  # the input is left alone


def test_references_do_not_chain_and_missing_ones_name_the_key():
    cfg = Config(dict(a="${b}", b="${c}", c=1))
    assert replace_cfg_vals(cfg).to_dict() == {"a": "${c}", "b": 1, "c": 1}
    with pytest.raises(KeyError, match=r"`x.y` refers to \$\{nope.z\}"):
        replace_cfg_vals(Config(dict(x=dict(y="${nope.z}"))))
    with pytest.raises(TypeError, match=r"`s` embeds \$\{l\}.*list"):
        replace_cfg_vals(Config(dict(l=[1], s="v${l}")))


def test_model_wrapper_replaces_model():
    cfg = replace_cfg_vals(Config(dict(model=dict(type="A"), model_wrapper=dict(type="W"))))
    assert cfg.model.type == "W" and "model_wrapper" not in cfg


def data_cfg() -> Config:
    root = "data/cityscapes/"
    return Config(
        dict(
            data_root=root,
            data=dict(
                train=dict(dataset=dict(ann_file=root + "a.json", img_prefix=root + "img/")),
                val=dict(ann_file=[root + "v1.json", root + "v2.json"], other="keep"),
            ),
            work_dir="data/cityscapes/untouched",
        )
    )


def test_mmdet_datasets_env_replaces_the_data_root_under_data():
    cfg = data_cfg()
    assert update_data_root(cfg, {"MMDET_DATASETS": "/mnt/ds/"}) is True
    assert cfg.data_root == "/mnt/ds/"
    assert cfg.data.train.dataset.to_dict() == {
        "ann_file": "/mnt/ds/a.json",
        "img_prefix": "/mnt/ds/img/",
    }
    assert cfg.data.val.ann_file == ["/mnt/ds/v1.json", "/mnt/ds/v2.json"]
    assert cfg.data.val.other == "keep"
    assert cfg.work_dir == "data/cityscapes/untouched"  # only cfg.data changes


def test_mmdet_datasets_unset_changes_nothing(monkeypatch):
    monkeypatch.delenv("MMDET_DATASETS", raising=False)
    cfg = data_cfg()
    assert update_data_root(cfg) is False
    assert cfg.to_dict() == data_cfg().to_dict()
    monkeypatch.setenv("MMDET_DATASETS", "/env/")
    assert update_data_root(cfg) is True and cfg.data_root == "/env/"


def test_mmdet_datasets_errors():
    model_only = Config(dict(model=dict(type="MaskRCNN")))
    assert update_data_root(model_only, {"MMDET_DATASETS": "/x/"}) is False
    with pytest.raises(KeyError, match="has no `data_root` key"):
        update_data_root(Config(dict(data={})), {"MMDET_DATASETS": "/x/"})
    with pytest.raises(ValueError, match="data_root = ''"):
        update_data_root(Config(dict(data={}, data_root="")), {"MMDET_DATASETS": "/x/"})


def test_work_dir_priority():
    cfg = Config(dict(a=1), filename="configs/x/my_model.py")
    assert resolve_work_dir(cfg) == "./work_dirs/my_model"
    cfg = Config(dict(work_dir="from_cfg"), filename="configs/x/my_model.py")
    assert resolve_work_dir(cfg) == "from_cfg"
    assert resolve_work_dir(cfg, "from_cli") == "from_cli" and cfg.work_dir == "from_cli"
    assert resolve_work_dir(Config(dict(a=1)), config_path="b/c.json") == "./work_dirs/c"
    with pytest.raises(ValueError, match="cannot choose a work_dir"):
        resolve_work_dir(Config(dict(a=1)))


def test_compat_runner_args():
    cfg = Config(dict(runner=dict(type="EpochBasedRunner", max_epochs=3), total_epochs=3))
    assert compat_runner_args(cfg).runner.max_epochs == 3
    with pytest.raises(ValueError, match="total_epochs = 4 but runner.max_epochs = 3"):
        compat_runner_args(Config(dict(runner=dict(max_epochs=3), total_epochs=4)))
    assert compat_runner_args(Config(dict(a=1))).to_dict() == {"a": 1}  # training asks for it
