"""Albu on the real albumentations package: v2's keymap, bbox_params with
filter_lost_elements, skip_img_without_anno, update_pad_shape and masks."""

import numpy as np
import pytest

from detkit.data.transforms.albu import Albu
from detkit.registry import PIPELINES, build
from detkit.structures.masks import BitmapMasks

from .toy import random_results, toy_results

BBOX_PARAMS = dict(
    type="BboxParams",
    format="pascal_voc",
    label_fields=["gt_labels"],
    min_visibility=0.0,
    filter_lost_elements=True,
)


def test_albu_horizontal_flip_exact_boxes_masks_labels():
    t = build(
        dict(
            type="Albu",
            transforms=[dict(type="HorizontalFlip", p=1.0)],
            bbox_params=BBOX_PARAMS,
            update_pad_shape=True,
        ),
        PIPELINES,
    )
    out = t(toy_results())
    assert out["img"][..., 0].tolist() == [[4, 3, 2, 1], [8, 7, 6, 5]]
    np.testing.assert_allclose(out["gt_bboxes"], [[2, 0, 4, 1]])  # x -> w - x
    assert isinstance(out["gt_masks"], BitmapMasks) and out["gt_masks"].masks[0].tolist() == [
        [0, 1, 1, 0],
        [0, 0, 1, 0],
    ]
    assert out["gt_labels"].tolist() == [1] and out["gt_labels"].dtype == np.int64
    assert out["pad_shape"] == (2, 4, 3) and "idx_mapper" not in out


def test_albu_filter_lost_elements_keeps_masks_and_labels_aligned():
    results = random_results(4, n=6)
    crop = dict(type="Crop", x_min=0, y_min=0, x_max=32, y_max=24, p=1.0)
    out = Albu([crop], bbox_params=BBOX_PARAMS)(results)
    boxes = out["gt_bboxes"]
    assert out["img"].shape == (24, 32, 3) and out["img_shape"] == (24, 32, 3)
    assert len(boxes) == len(out["gt_labels"]) == len(out["gt_masks"]) < 6
    np.testing.assert_allclose(out["gt_masks"].get_bboxes(), boxes, atol=1)


def test_albu_skip_img_without_anno_polygons_and_errors():
    empty = dict(type="Crop", x_min=3, y_min=1, x_max=4, y_max=2, p=1.0)
    assert Albu([empty], bbox_params=BBOX_PARAMS, skip_img_without_anno=True)(toy_results()) is None
    polygons = toy_results(poly=True)
    raster = polygons["gt_masks"].to_bitmap().masks[0]
    out = Albu([dict(type="VerticalFlip", p=1.0)], bbox_params=BBOX_PARAMS)(polygons)
    assert isinstance(out["gt_masks"], BitmapMasks)  # polygons rasterised (mmdet raises)
    np.testing.assert_array_equal(out["gt_masks"].masks[0], raster[::-1])
    with pytest.raises(KeyError, match="NoSuchTransform"):
        Albu([dict(type="NoSuchTransform")])


def test_albu_in_the_preview_static_grid(tmp_path):
    """nb03's static grid row takes GRID_TRANSFORMS in turn over the samples: with 2 samples
    and 3 levels it shows all six, Albu among them, each with its instances drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import detkit
    from detkit.viz import load_preview_samples, render_policy_grid
    from detkit.viz.preview import GRID_TRANSFORMS

    root = tmp_path / "cs"
    detkit.generate_cityscapes_sample(
        root, train=2, val=0, size=(128, 64), seed=1, instances=(3, 4)
    )
    detkit.convert_cityscapes(
        root, out_dir=root / "annotations", splits=("train",), show_progress=False
    )
    samples, names = load_preview_samples(
        str(root / "annotations/instancesonly_filtered_gtFine_train.json"),
        str(root / "leftImg8bit/train"),
        num=2,
    )
    fig = render_policy_grid(samples, names, None, levels=(0, 5, 10))
    titles = [ax.get_title() for ax in fig.axes]
    # rows per sample: Rotate, Translate, the transforms; 4 cells each (original + 3 levels)
    cells = [t.split(" (")[0] for r in (2, 5) for t in titles[4 * r + 1 : 4 * r + 4]]
    assert cells == list(GRID_TRANSFORMS) and "Albu" in cells
    assert titles[4 * 2 + 3].startswith("Albu (") and "instances)" in titles[4 * 2 + 3]
    plt.close(fig)
