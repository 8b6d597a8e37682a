"""pretty_text and dump(): the written config loads back to the same dict."""

import ast
import copy
import pickle
from pathlib import Path

import pytest

from detkit.config import Config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures_config"
SEED = (
    Path(__file__).resolve().parents[2]
    / "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py"
)

TRICKY = dict(
    a=1,
    b=[1.5, -2, None, True, "x'y\"z"],
    c=(),
    d=(7,),
    e=dict(),
    f={"not-an-identifier": 1, "class": 2, 3: "int key"},
    g=float("inf"),
    h=[[], [[(1, 2)]], {"k": (3,)}],
    long=dict(text="a" * 100, items=list(range(40))),
)


def lists_for_tuples(value):
    if isinstance(value, dict):
        return {k: lists_for_tuples(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [lists_for_tuples(v) for v in value]
    return value


@pytest.fixture(scope="module", params=["child", "seed"])
def cfg(request) -> Config:
    return Config.fromfile(FIXTURES / "child.py" if request.param == "child" else SEED)


def test_pretty_text_is_python_that_rebuilds_the_dict(cfg):
    text = cfg.pretty_text
    ast.parse(text)
    namespace: dict = {}
    exec(text, namespace)
    namespace.pop("__builtins__")
    assert namespace == cfg.to_dict()


def test_pretty_text_wraps_at_79_columns():
    text = Config(dict(model=dict(neck=dict(in_channels=list(range(30)), n=1)))).pretty_text
    assert max(len(line) for line in text.splitlines()) <= 79
    assert text.splitlines()[:3] == ["model = dict(", "    neck=dict(", "        in_channels=["]


def test_pretty_text_uses_mmdet_dict_style():
    text = Config(dict(model=dict(type="FPN", n=[1, 2]))).pretty_text
    assert text == "model = dict(type='FPN', n=[1, 2])\n"


def test_pretty_text_round_trips_awkward_values():
    cfg = Config(TRICKY)
    assert Config.fromstring(cfg.pretty_text, ".py").to_dict() == TRICKY


def test_pretty_text_refuses_a_non_identifier_top_level_key():
    with pytest.raises(KeyError, match="'my-key' is not a Python identifier"):
        _ = Config({"my-key": 1}).pretty_text


@pytest.mark.parametrize("suffix", [".py", ".yaml", ".yml"])
def test_dump_and_reload_is_identical(cfg, tmp_path, suffix):
    path = tmp_path / f"dumped{suffix}"
    cfg.dump(path)
    assert Config.fromfile(path).to_dict() == cfg.to_dict()


def test_dump_json_reloads_with_tuples_as_lists(cfg, tmp_path):
    cfg.dump(tmp_path / "dumped.json")
    reloaded = Config.fromfile(tmp_path / "dumped.json").to_dict()
    assert reloaded == lists_for_tuples(cfg.to_dict())


def test_dump_keeps_awkward_values(tmp_path):
    no_int_keys = {k: v for k, v in TRICKY.items() if k != "f"}
    for suffix in (".py", ".yaml"):
        Config(no_int_keys).dump(tmp_path / f"t{suffix}")
        assert Config.fromfile(tmp_path / f"t{suffix}").to_dict() == no_int_keys


def test_dump_without_path_returns_pretty_text(cfg):
    assert cfg.dump() == cfg.pretty_text


def test_dump_errors(tmp_path):
    with pytest.raises(ValueError, match=r"out\.txt: use one of \.py"):
        Config(dict(a=1)).dump(tmp_path / "out.txt")
    with pytest.raises(ValueError, match="`model.neck.type` holds a non-literal value .type."):
        Config(dict(model=dict(neck=dict(type=Config)))).dump(tmp_path / "out.py")


def test_deepcopy_and_pickle(cfg):
    for clone in (copy.deepcopy(cfg), pickle.loads(pickle.dumps(cfg))):
        assert clone == cfg and clone.filename == cfg.filename and clone.text == cfg.text
        assert clone.model is not cfg.model
        assert clone.model.neck.type == cfg.model.neck.type
