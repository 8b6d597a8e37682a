"""draw_instances, the preview logic and the live widget UI on a tiny generated sample."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import detkit  # noqa: E402
import detkit.data  # noqa: E402, F401  (registers datasets and transforms)
from detkit.structures.masks import BitmapMasks  # noqa: E402
from detkit.viz import (  # noqa: E402
    augment_sample,
    build_augmentation_ui,
    config_policies,
    draw_instances,
    load_preview_samples,
    make_policy,
    render_policy_grid,
)

SEED_CONFIG = "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py"


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = tmp_path_factory.mktemp("cs")
    detkit.generate_cityscapes_sample(
        root, train=2, val=0, size=(128, 64), seed=1, instances=(3, 4)
    )
    detkit.convert_cityscapes(
        root, out_dir=root / "annotations", splits=("train",), show_progress=False
    )
    return load_preview_samples(
        str(root / "annotations/instancesonly_filtered_gtFine_train.json"),
        str(root / "leftImg8bit/train"),
        num=2,
    )


def test_draw_instances_boxes_masks_names():
    img = np.zeros((200, 300, 3), np.uint8)
    masks = np.zeros((2, 200, 300), np.uint8)
    masks[0, 20:80, 30:90] = 1
    fig, ax = plt.subplots()
    draw_instances(
        ax,
        img,
        np.array([[30, 20, 90, 80], [100, 100, 200, 180]], np.float32),
        [0, 1],
        masks=BitmapMasks(masks, 200, 300),
        scores=[0.9, 0.5],
        class_names=["car", "person"],
    )
    shown = ax.images[0].get_array()
    assert not ax.patches and not ax.texts  # one renderer: everything is in the image
    assert shown[60, 60].sum() > 0 and shown[140, 150].sum() == 0  # overlay only in the mask
    assert shown[179, 150].sum() > 0 and shown[170, 150].sum() == 0  # box outline, not inside
    assert shown[95, 101].sum() > 0  # the name above the box
    with pytest.raises(ValueError, match="labels"):
        draw_instances(ax, img, np.zeros((2, 4)), [0])
    plt.close(fig)


def test_make_policy_and_reproducible_augment(samples):
    sample_list, names = samples
    assert names[0] == "person" and len(sample_list) == 2
    rotate = make_policy("Rotate", level=10, prob=1.0, direction="negative", fill=(255, 0, 0))
    assert rotate.angle == 30 and rotate.random_negative_prob == 1.0
    assert rotate.img_fill_val == (0.0, 0.0, 255.0)  # RGB red applied to a BGR image
    state = np.random.get_state()[1].copy()
    a = augment_sample(sample_list[0], rotate, seed=3)
    b = augment_sample(sample_list[0], rotate, seed=3)
    assert np.array_equal(a["img"], b["img"]) and not np.array_equal(
        a["img"], sample_list[0]["img"]
    )
    assert np.array_equal(np.random.get_state()[1], state)  # global RNG untouched
    translate = make_policy("Translate", level=4, axis="vertical", direction="positive")
    assert translate.offset == 100 and translate.direction == "vertical"
    cfg = detkit.Config.fromfile(SEED_CONFIG)
    policies = config_policies(cfg)
    assert [p[0]["type"] for p in policies] == ["Rotate", "Rotate"]
    assert type(make_policy("AutoAugment (config)", policies=policies)).__name__ == "AutoAugment"
    with pytest.raises(ValueError, match="policy"):
        make_policy("Zoom")


def test_static_grid(samples):
    sample_list, names = samples
    cfg = detkit.Config.fromfile(SEED_CONFIG)
    fig = render_policy_grid(sample_list[:1], names, config_policies(cfg), levels=(0, 10))
    assert (
        len(fig.axes) == 4 * 3
    )  # (Rotate, Translate, AutoAugment, other transforms) rows x (original + 2)
    assert [ax.get_title().split(" (")[0] for ax in fig.axes[-2:]] == [
        "PhotoMetricDistortion",
        "RandomCrop",
    ]
    plt.close(fig)


def test_live_ui_redraws_on_change(samples):
    sample_list, names = samples
    cfg = detkit.Config.fromfile(SEED_CONFIG)
    preview = build_augmentation_ui(sample_list, names, config_policies(cfg))
    first = preview.last_figure
    assert first is not None and len(first.axes) == 2
    preview.controls["level"].value = 9
    assert preview.last_figure is not first
    assert "level 9" in preview.last_figure.axes[1].get_title()
    preview.controls["policy"].value = "Translate"
    preview.controls["axis"].value = "vertical"
    preview.controls["fill"].value = "#ff0000"
    preview.controls["sample"].value = 1
    assert "Translate" in preview.last_figure.axes[1].get_title()
    preview.controls["policy"].value = "AutoAugment (config)"
    preview.controls["seed"].value = 4
    assert "AutoAugment" in preview.last_figure.axes[1].get_title()
    assert "policy" in preview.controls and len(preview.widget.children) == 4
    plt.close("all")
