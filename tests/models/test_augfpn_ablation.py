"""bench/ablation.py: every variant differs from the demo config only in its AugFPN parts; the
sweep grid runs each variant once per seed."""

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


def test_variants_switch_exactly_the_augfpn_components(ablation):
    keys = {}
    for name, (neck, extractor, head) in ablation.VARIANTS.items():
        cfg = detkit.Config.fromfile(str(ABLATION.parents[1] / ablation.DEMO_CONFIG))
        cfg.merge_from_dict(ablation.variant_options(name))  # what nb04 does with cfg_options
        model = detkit.build_detector(cfg.model)
        assert type(model.neck).__name__ == neck
        assert type(model.roi_head).__name__ == head
        assert {type(e).__name__ for e in model.roi_head.bbox_roi_extractor} == {extractor}
        keys[name] = set(model.state_dict())
    assert keys["RFA"] - keys["FPN"] == {k for k in keys["RFA"] if k.startswith("neck.rfa.")}
    assert keys["FPN"] < keys["RFA"] < keys["RFA+SRS"] < keys["RFA+SRS+CS"]
    assert keys["RFA+CS"] - keys["RFA"] == {
        k for k in keys["RFA+CS"] if k.startswith("roi_head.consistent_supervision.")
    }


def test_grid_runs_every_variant_with_each_seed(ablation):
    grid = ablation.ablation_grid(
        ["FPN", "RFA+SRS+CS"],
        [0, 1, 2],
        "data/x",
        epochs=2,
        times=1,
        img_scale=(256, 128),
        cfg_options={"optimizer.lr": 0.01},
    )
    runs = detkit.experiments.expand_grid(grid)
    assert [(r.setting, r.seed) for r in runs] == [
        (v, s) for v in ("FPN", "RFA+SRS+CS") for s in (0, 1, 2)
    ]
    first = runs[0].parameters
    assert first["max_epochs"] == 2 and first["times"] == 1 and first["img_scale"] == [256, 128]
    assert first["cfg_options"] == {"optimizer.lr": 0.01, **ablation.variant_options("FPN")}
    assert runs[-1].parameters["cfg_options"]["model.roi_head.type"] == "AugFPNCascadeRoIHead"


def test_unknown_variant_raises(ablation):
    with pytest.raises(KeyError, match="RFA"):
        ablation.variant_options("PAFPN")
