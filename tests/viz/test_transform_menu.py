"""The preview's menu of MMDetection v2 transforms: every entry builds from the controls, runs
on generated samples at level 0, 5 and 10 (multi-image ones with partners drawn from the
samples), keeps boxes, labels and masks aligned, and the widget offers and redraws them."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import detkit  # noqa: E402
import detkit.data  # noqa: E402, F401  (registers datasets and transforms)
from detkit.viz import augment_sample, build_augmentation_ui, load_preview_samples, make_policy  # noqa: E402
from detkit.viz.preview import POLICIES  # noqa: E402
from detkit.viz.transform_menu import TRANSFORMS  # noqa: E402


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = tmp_path_factory.mktemp("cs_menu")
    detkit.generate_cityscapes_sample(
        root, train=3, val=0, size=(128, 64), seed=4, instances=(3, 5)
    )
    detkit.convert_cityscapes(
        root, out_dir=root / "annotations", splits=("train",), show_progress=False
    )
    loaded, _ = load_preview_samples(
        str(root / "annotations/instancesonly_filtered_gtFine_train.json"),
        str(root / "leftImg8bit/train"),
        num=3,
    )
    return loaded


@pytest.mark.parametrize("name", TRANSFORMS)
def test_every_menu_transform_runs_and_keeps_instances_aligned(samples, name):
    assert name in POLICIES
    for level in (0, 5, 10):
        transform = make_policy(name, level, 1.0, fill=(10, 20, 30), samples=samples)
        for seed in range(2):
            out = augment_sample(samples[seed], transform, seed)
            assert out["img"].dtype == np.uint8 and out["img"].ndim == 3
            n = len(out["gt_bboxes"])
            assert len(out["gt_labels"]) == n == len(out["gt_masks"])
            assert out["gt_masks"].masks.shape[1:] == out["img"].shape[:2]
            assert "mix_results" not in out


def test_widget_offers_the_transforms_and_redraws(samples):
    preview = build_augmentation_ui(samples, ["person"] * 8)
    assert set(TRANSFORMS) <= set(preview.controls["policy"].options)
    for name in ("CopyPaste", "PhotoMetricDistortion", "Mosaic"):
        preview.controls["policy"].value = name
        assert preview.last_figure.axes[1].get_title().startswith(f"{name} level 5")
    with pytest.raises(ValueError, match="samples"):
        make_policy("Mosaic", 5, 1.0)
