"""bench/ablation.py: every variant differs from the demo config only in its AugFPN parts."""

import importlib.util
from pathlib import Path

import pytest

import detkit

ABLATION = Path(__file__).resolve().parents[2] / "bench" / "ablation.py"


@pytest.fixture(scope="module")
def ablation():
    spec = importlib.util.spec_from_file_location("detkit_bench_ablation", ABLATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_variants_switch_exactly_the_augfpn_components(ablation, tmp_path):
    keys = {}
    for name, (neck, extractor, head) in ablation.VARIANTS.items():
        cfg = ablation.variant_config(name, str(tmp_path / "sample"), epochs=2, times=1,
                                      work_dir=str(tmp_path / name))
        assert cfg.runner.max_epochs == 2 and cfg.data.train.times == 1
        assert cfg.data.val.ann_file.startswith(str(tmp_path / "sample") + "/annotations/")
        model = detkit.build_detector(cfg.model)
        assert type(model.neck).__name__ == neck
        assert type(model.roi_head).__name__ == head
        assert {type(e).__name__ for e in model.roi_head.bbox_roi_extractor} == {extractor}
        keys[name] = set(model.state_dict())
    assert keys["RFA"] - keys["FPN"] == {k for k in keys["RFA"] if k.startswith("neck.rfa.")}
    assert keys["FPN"] < keys["RFA"] < keys["RFA+SRS"] < keys["RFA+SRS+CS"]
    assert keys["RFA+CS"] - keys["RFA"] == {
        k for k in keys["RFA+CS"] if k.startswith("roi_head.consistent_supervision.")}


def test_unknown_variant_raises(ablation, tmp_path):
    with pytest.raises(KeyError, match="RFA"):
        ablation.variant_config("PAFPN", str(tmp_path), 1, 1, str(tmp_path))
