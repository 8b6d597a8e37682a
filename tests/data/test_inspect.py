"""Annotation statistics and drawings used by notebook 01."""

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from detkit.data.inspect import coco_stats, show_annotated_images  # noqa: E402
from detkit.viz import plot_annotation_stats  # noqa: E402


def test_coco_stats_counts(converted, cityscapes_root):
    ann_file = converted / "instancesonly_filtered_gtFine_val.json"
    coco = json.loads(ann_file.read_text())
    stats = coco_stats(ann_file)
    plain = [a for a in coco["annotations"] if not a["iscrowd"]]
    assert stats.images == len(coco["images"])
    assert sum(stats.instances_per_class.values()) == len(plain) == len(stats.sizes)
    assert stats.crowd == len(coco["annotations"]) - len(plain)
    assert list(stats.instances_per_class)[:2] == ["person", "rider"]
    assert np.allclose(sorted(stats.sizes), sorted(np.sqrt([a["area"] for a in plain])))
    assert sum(stats.size_buckets().values()) == len(plain)
    fig = plot_annotation_stats(stats, title="val")
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 8
    fig = show_annotated_images(ann_file, cityscapes_root / "leftImg8bit" / "val", num=2)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 2 and all(ax.get_title().endswith("annotations)") for ax in drawn)
    assert all(len(np.unique(ax.images[0].get_array().reshape(-1, 3), axis=0)) > 50 for ax in drawn)


def test_coco_stats_names_a_malformed_file(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"images": []')
    with pytest.raises(ValueError, match="broken.json"):
        coco_stats(bad)
