"""Config.fromfile: formats, _base_ chains, placeholders, reserved keys and load errors."""

import re
import warnings
from pathlib import Path

import pytest

from detkit.config import Config, ConfigDict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures_config"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def child() -> Config:
    return Config.fromfile(FIXTURES / "child.py")


def test_py_module_names_become_keys_but_not_modules_functions_or_dunders():
    cfg = Config.fromfile(FIXTURES / "base_model.py")
    assert list(cfg) == ["model", "image_size", "base_name"]
    assert cfg.model.neck.num_outs == 3
    assert cfg.base_name == "b"


def test_json_and_yaml_files_load(tmp_path):
    assert Config.fromfile(FIXTURES / "base_schedule.json").to_dict() == {
        "optimizer": {"type": "SGD", "lr": 0.02, "momentum": 0.9},
        "lr_steps": [8, 11],
        "max_epochs": 12,
    }
    runtime = Config.fromfile(FIXTURES / "base_runtime.yaml")
    assert runtime.workflow == [("train", 1)]
    assert runtime.load_from is None
    assert Config.fromfile(write(tmp_path / "x.yml", "a: 1\n")).a == 1


def test_bases_of_three_formats_merge_with_child_winning(child):
    assert child.model.type == "ToyDetector"  # from the base
    assert child.model.backbone.out_indices == (0, 1, 2, 3)
    assert child.model.neck.to_dict() == {
        "type": "AugFPN",
        "in_channels": [64, 128],
        "out_channels": 32,
        "num_outs": 3,
    }
    assert child.model.heads == [{"type": "Head", "num_classes": 8}]
    assert child.model.test_cfg == {"score_thr": 0.3}
    assert child.optimizer == {"type": "SGD", "lr": 0.01, "momentum": 0.9}
    assert child.lr_steps == [7]
    assert child.log_config.hooks[0].type == "TextLoggerHook"


def test_delete_key_absent_from_base_is_kept_like_mmcv(child):
    assert child.model.extra == {"_delete_": True, "kept": 1}


def test_base_variable_substitution(child):
    assert child.image_size == (64, 48)  # whole value keeps its type
    assert child.first_step == 8  # list index inside the path
    assert child.optimizer_name == "optimizer-SGD-lr"  # embedded in a string


def test_predefined_placeholders(child):
    assert child.work_dir == "./work_dirs/child"
    assert child.config_name == "child.py"
    assert child.config_ext == ".py"
    grandchild = Config.fromfile(FIXTURES / "nested" / "grandchild.py")
    assert grandchild.config_dir == str(FIXTURES / "nested").replace("\\", "/")
    assert grandchild.max_epochs == 24
    assert grandchild.lr_steps == [7]  # recursive chain: grandchild -> child -> bases


def test_predefined_placeholders_can_be_turned_off(tmp_path):
    path = write(tmp_path / "c.py", "name = '{{ fileBasename }}'\n")
    assert Config.fromfile(path, use_predefined_variables=False).name == "{{ fileBasename }}"


def test_filename_and_text(child):
    assert child.filename == str(FIXTURES / "child.py")
    headers = [line for line in child.text.splitlines() if line.startswith(str(FIXTURES))]
    assert headers == [
        str(FIXTURES / name)
        for name in ("base_model.py", "base_schedule.json", "base_runtime.yaml", "child.py")
    ]
    assert "image_size = {{ _base_.image_size }}" in child.text  # raw text, unsubstituted


def test_attribute_and_item_access(child):
    assert isinstance(child.model, ConfigDict)
    assert child["model"]["neck"]["type"] == child.model.neck.type == "AugFPN"
    assert isinstance(child.model.heads[0], ConfigDict)
    child_copy = Config(child.to_dict())
    child_copy.model.neck.type = "FPN"
    child_copy["max_epochs"] = 1
    assert child_copy.model.neck["type"] == "FPN" and child_copy.max_epochs == 1
    assert child.model.neck.type == "AugFPN"
    assert "model" in child and len(child) == len(child.to_dict())
    assert child.get("missing", 5) == 5


def test_missing_attribute_names_the_key(child):
    with pytest.raises(AttributeError, match="no key 'nek'.*did you mean neck"):
        _ = child.model.nek
    with pytest.raises(AttributeError, match="no key 'no_such_key'"):
        _ = child.no_such_key
    assert not hasattr(child.model, "no_such_key")


def test_reserved_keys(tmp_path):
    for key in ("filename", "text", "pretty_text"):
        path = write(tmp_path / f"{key}.py", f"{key} = 1\n")
        with pytest.raises(KeyError, match=f"`{key}` is a reserved key .*{re.escape(str(path))}"):
            Config.fromfile(path)
    with pytest.raises(KeyError, match="reserved"):
        Config({"text": "x"})
    with pytest.raises(KeyError, match="reserved"):
        Config({}).filename = "x"


def test_deprecation_key_warns_and_is_removed(tmp_path):
    path = write(
        tmp_path / "old.py",
        "_deprecation_ = dict(expected='new.py', reference='https://example.org')\na = 1\n",
    )
    with pytest.warns(DeprecationWarning, match=r"old\.py will be deprecated.*new\.py.*example"):
        cfg = Config.fromfile(path)
    assert cfg.to_dict() == {"a": 1}


def test_unsupported_suffix_is_a_value_error(tmp_path):
    path = write(tmp_path / "cfg.txt", "a = 1\n")
    with pytest.raises(ValueError, match=r"cfg\.txt has an unsupported type '\.txt'"):
        Config.fromfile(path)
    write(tmp_path / "base.ini", "a = 1\n")
    child = write(tmp_path / "child.py", "_base_ = './base.ini'\n")
    with pytest.raises(ValueError, match=r"base\.ini has an unsupported type"):
        Config.fromfile(child)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.py not found"):
        Config.fromfile(tmp_path / "nope.py")


def test_missing_base_names_the_missing_path_and_the_referring_file(tmp_path):
    child = write(tmp_path / "sub" / "child.py", "_base_ = ['../models/absent.py']\na = 1\n")
    missing = tmp_path / "models" / "absent.py"
    with pytest.raises(FileNotFoundError) as info:
        Config.fromfile(child)
    assert str(missing) in str(info.value) and str(child) in str(info.value)


def test_base_cycle_shows_the_chain(tmp_path):
    a = write(tmp_path / "a.py", "_base_ = './b.py'\nx = 1\n")
    b = write(tmp_path / "b.py", "_base_ = './a.py'\ny = 1\n")
    with pytest.raises(ValueError, match=f"cycle: {re.escape(f'{a} -> {b} -> {a}')}$"):
        Config.fromfile(a)
    selfish = write(tmp_path / "self.py", "_base_ = 'self.py'\n")
    with pytest.raises(ValueError, match=re.escape(f"{selfish} -> {selfish}")):
        Config.fromfile(selfish)


def test_diamond_bases_are_not_a_cycle(tmp_path):
    write(tmp_path / "root.py", "r = 1\n")
    write(tmp_path / "left.py", "_base_ = 'root.py'\nleft = 1\n")
    write(tmp_path / "right.py", "_base_ = 'root.py'\nright = 1\n")
    top = write(tmp_path / "top.py", "_base_ = ['left.py', 'right.py']\n")
    with pytest.raises(KeyError, match="duplicate key `r`"):
        Config.fromfile(top)  # both bases define `r`: an error, but not a cycle


def test_duplicate_key_among_bases_names_key_and_both_files(tmp_path):
    one = write(tmp_path / "one.py", "model = dict(a=1)\n")
    two = write(tmp_path / "two.json", '{"model": {"b": 2}}')
    child = write(tmp_path / "child.py", "_base_ = ['one.py', 'two.json']\n")
    with pytest.raises(KeyError) as info:
        Config.fromfile(child)
    message = str(info.value)
    assert "duplicate key `model`" in message
    assert str(one) in message and str(two) in message and str(child) in message


def test_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path / "broken.py", "a = 1\nb = dict(\nc = 2\n")
    with pytest.raises(SyntaxError, match=f"{re.escape(str(path))} has a syntax error at line 2"):
        Config.fromfile(path)


def test_base_must_be_str_or_list(tmp_path):
    path = write(tmp_path / "c.py", "_base_ = 3\n")
    with pytest.raises(TypeError, match="`_base_` in .*c.py must be a str or a list of str"):
        Config.fromfile(path)


def test_base_variable_errors(tmp_path):
    write(tmp_path / "base.py", "a = dict(b=1)\nitems = [1, 2]\n")
    missing = write(tmp_path / "missing.py", "_base_ = 'base.py'\nx = {{ _base_.a.c }}\n")
    with pytest.raises(KeyError, match=r"\{\{ _base_\.a\.c \}\} in .*missing\.py"):
        Config.fromfile(missing)
    embedded = write(tmp_path / "emb.py", "_base_ = 'base.py'\nx = 'v{{ _base_.items }}'\n")
    with pytest.raises(TypeError, match="`x` in .*emb.py embeds .* list"):
        Config.fromfile(embedded)
    no_base = write(tmp_path / "nobase.py", "x = {{ _base_.a }}\n")
    with pytest.raises(KeyError, match=r"nobase\.py uses \{\{ _base_\.a \}\} but has no `_base_`"):
        Config.fromfile(no_base)


def test_base_variable_in_json_and_yaml(tmp_path):
    write(tmp_path / "base.py", "steps = [8, 11]\n")
    write(tmp_path / "c.json", '{"_base_": "base.py", "s": "{{ _base_.steps }}"}')
    write(tmp_path / "c.yaml", "_base_: base.py\ns: {{ _base_.steps }}\n")
    assert Config.fromfile(tmp_path / "c.json").s == [8, 11]
    assert Config.fromfile(tmp_path / "c.yaml").s == [8, 11]


def test_data_file_must_hold_a_mapping(tmp_path):
    path = write(tmp_path / "list.json", "[1, 2]")
    with pytest.raises(ValueError, match="list.json must hold a mapping"):
        Config.fromfile(path)
    bad = write(tmp_path / "bad.json", "{oops")
    with pytest.raises(ValueError, match="bad.json could not be parsed"):
        Config.fromfile(bad)


def test_fromstring(child):
    again = Config.fromstring(child.pretty_text, ".py")
    assert again == child and again.filename is None
    assert Config.fromstring("a: [1, 2]\n", ".yaml").a == [1, 2]
    with pytest.raises(ValueError, match="file_format must be one of"):
        Config.fromstring("a = 1", "py")


def test_loading_does_not_warn(child):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Config.fromfile(FIXTURES / "child.py")


def test_undefined_name_from_a_base_is_explained(tmp_path):
    write(tmp_path / "base.py", "img_norm_cfg = dict(mean=[0.0])\n")
    child = write(tmp_path / "child.py", "_base_ = 'base.py'\n\nnorm = dict(**img_norm_cfg)\n")
    with pytest.raises(
        NameError,
        match=f"{re.escape(str(child))}, line 3: .*'img_norm_cfg'.*"
        r"\{\{ _base_\.img_norm_cfg \}\}",
    ):
        Config.fromfile(child)


def test_base_placeholders_in_comments_are_ignored(tmp_path):
    write(tmp_path / "base.py", "a = 1\n")
    child = write(tmp_path / "c.py", "_base_ = 'base.py'\n# see {{ _base_.not_there }}\nb = 2\n")
    assert Config.fromfile(child).to_dict() == {"a": 1, "b": 2}
    lone = write(tmp_path / "lone.py", "# {{ _base_.x }} in a comment only\nb = 2\n")
    assert Config.fromfile(lone).b == 2
