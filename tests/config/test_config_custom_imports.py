"""custom_imports: a neck defined outside the package is registered and built from a config."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from detkit.config import Config, import_modules_from_strings
from detkit.registry import MODELS, NECKS, build

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def examples_importable(monkeypatch):
    """Put the repo root on sys.path; forget examples.my_neck and MyNeck afterwards."""
    monkeypatch.syspath_prepend(str(REPO))
    sys.modules.pop("examples.my_neck", None)
    yield
    sys.modules.pop("examples.my_neck", None)
    MODELS._module_dict.pop("MyNeck", None)


def write_config(tmp_path: Path, imports: str, allow_failed: bool = False) -> Path:
    path = tmp_path / "my_cfg.py"
    path.write_text(
        f"custom_imports = dict(imports={imports}, allow_failed_imports={allow_failed})\n"
        "model = dict(neck=dict(type='MyNeck', in_channels=[8, 16], out_channels=4))\n"
    )
    return path


def test_custom_imports_registers_a_neck_that_builds_and_runs(tmp_path, examples_importable):
    assert "MyNeck" not in NECKS
    cfg = Config.fromfile(write_config(tmp_path, "['examples.my_neck']"))
    assert "MyNeck" in NECKS
    assert cfg.custom_imports.imports == ["examples.my_neck"]  # stays in the config
    assert "custom_imports" in cfg.pretty_text
    neck = build(cfg.model.neck, NECKS, key_path="model.neck")
    outputs = neck((torch.zeros(1, 8, 6, 5), torch.zeros(1, 16, 3, 3)))
    assert [tuple(o.shape) for o in outputs] == [(1, 4, 6, 5), (1, 4, 3, 3)]


def test_single_string_form(tmp_path, examples_importable):
    Config.fromfile(write_config(tmp_path, "'examples.my_neck'"))
    assert "MyNeck" in NECKS


def test_seed_tutorial_py_suffix_form_warns_and_works(tmp_path, examples_importable):
    with pytest.warns(UserWarning, match=r"ends with '\.py'.*imports=\['examples\.my_neck'\]"):
        cfg = Config.fromfile(write_config(tmp_path, "['examples.my_neck.py']"))
    assert type(build(cfg.model.neck, NECKS)).__name__ == "MyNeck"


def test_fromfile_can_skip_custom_imports(tmp_path, examples_importable):
    Config.fromfile(write_config(tmp_path, "['examples.my_neck']"), import_custom_modules=False)
    assert "MyNeck" not in NECKS


def test_missing_module_raises_import_error_naming_module_and_config(tmp_path):
    path = write_config(tmp_path, "['examples.no_such_neck']")
    with pytest.raises(ImportError) as info:
        Config.fromfile(path)
    assert "'examples.no_such_neck'" in str(info.value) and str(path) in str(info.value)


def test_allow_failed_imports_warns_and_continues(tmp_path):
    path = write_config(tmp_path, "['examples.no_such_neck']", allow_failed=True)
    with pytest.warns(UserWarning, match="examples.no_such_neck failed to import and is ignored"):
        cfg = Config.fromfile(path)
    assert cfg.model.neck.type == "MyNeck"


def test_import_modules_from_strings_types():
    assert import_modules_from_strings("json").__name__ == "json"
    assert [m.__name__ for m in import_modules_from_strings(["json", "math"])] == ["json", "math"]
    assert import_modules_from_strings(None) is None
    with pytest.raises(TypeError, match="must be a str or a list of str, got int"):
        import_modules_from_strings(3)
    with pytest.raises(TypeError, match="module path strings, got int: 3"):
        import_modules_from_strings(["json", 3])
    with pytest.warns(UserWarning, match="failed to import"):
        assert import_modules_from_strings(["json", "no_such_mod"], True)[1] is None


def test_seed_tutorial_import_string_works_without_mmdet(tmp_path):
    if importlib.util.find_spec("mmdet") is not None:
        pytest.skip("a real mmdet is installed")
    with pytest.warns(UserWarning) as records:
        cfg = Config.fromfile(write_config(tmp_path, "['mmdet.models.necks.augfpn.py']"))
    messages = [str(r.message) for r in records]
    assert any("Write imports=['mmdet.models.necks.augfpn']" in m for m in messages)
    assert any("imported 'detkit.models.necks.augfpn' instead" in m for m in messages)
    assert "AugFPN" in NECKS and cfg.custom_imports.imports == ["mmdet.models.necks.augfpn.py"]


def test_custom_imports_shape_errors(tmp_path):
    path = tmp_path / "c.py"
    path.write_text("custom_imports = ['json']\n")
    with pytest.raises(TypeError, match="custom_imports in config .*c.py must be dict"):
        Config.fromfile(path)
    path.write_text("custom_imports = dict(modules=['json'])\n")
    with pytest.raises(KeyError, match="takes the keys 'imports' and 'allow_failed_imports'"):
        Config.fromfile(path)
