"""Merge rules of section 1.3 (mmcv ``_merge_a_into_b``), one rule per test."""

import pytest

from detkit.config import Config, ConfigDict
from detkit.config.merging import merge_a_into_b, nest_dotted_keys

BASE = {
    "model": {
        "neck": {"type": "FPN", "out_channels": 256, "norm": {"type": "BN", "eps": 1e-5}},
        "bbox_head": [{"type": "A", "num_classes": 80}, {"type": "B", "num_classes": 80}],
        "mask_head": {"type": "FCNMaskHead", "num_convs": 4, "num_classes": 80},
    },
    "steps": [8, 11],
    "scale": (1333, 800),
    "lr": 0.02,
}


def test_dicts_merge_recursively_and_child_wins():
    merged = merge_a_into_b({"model": {"neck": {"type": "AugFPN", "norm": {"eps": 1e-3}}}}, BASE)
    assert merged["model"]["neck"] == {
        "type": "AugFPN",
        "out_channels": 256,
        "norm": {"type": "BN", "eps": 1e-3},
    }
    assert merged["model"]["mask_head"] == BASE["model"]["mask_head"]


def test_new_keys_are_added():
    merged = merge_a_into_b({"model": {"rpn": {"a": 1}}, "extra": 2}, BASE)
    assert merged["model"]["rpn"] == {"a": 1} and merged["extra"] == 2


def test_lists_and_tuples_and_scalars_replace():
    merged = merge_a_into_b({"steps": [7], "scale": (2048, 1024), "lr": 0.01}, BASE)
    assert merged["steps"] == [7] and merged["scale"] == (2048, 1024) and merged["lr"] == 0.01


def test_dicts_inside_lists_are_not_merged():
    merged = merge_a_into_b({"model": {"bbox_head": [{"num_classes": 8}]}}, BASE)
    assert merged["model"]["bbox_head"] == [{"num_classes": 8}]


def test_a_scalar_or_list_may_replace_a_dict():
    merged = merge_a_into_b({"model": {"neck": None, "mask_head": [1]}}, BASE)
    assert merged["model"]["neck"] is None and merged["model"]["mask_head"] == [1]


def test_delete_replaces_the_base_dict_and_is_dropped():
    merged = merge_a_into_b({"model": {"neck": {"_delete_": True, "type": "PAFPN"}}}, BASE)
    assert merged["model"]["neck"] == {"type": "PAFPN"}


def test_delete_false_merges_and_is_dropped():
    merged = merge_a_into_b({"model": {"neck": {"_delete_": False, "type": "PAFPN"}}}, BASE)
    assert merged["model"]["neck"]["out_channels"] == 256
    assert "_delete_" not in merged["model"]["neck"]


def test_delete_on_a_key_absent_from_the_base_stays_in_the_dict():
    merged = merge_a_into_b({"model": {"new": {"_delete_": True, "a": 1}}}, BASE)
    assert merged["model"]["new"] == {"_delete_": True, "a": 1}


def test_delete_allows_a_dict_over_a_list():
    merged = merge_a_into_b({"model": {"bbox_head": {"_delete_": True, "type": "C"}}}, BASE)
    assert merged["model"]["bbox_head"] == {"type": "C"}


def test_dict_over_non_dict_base_is_a_type_error_with_the_key_path():
    with pytest.raises(TypeError) as info:
        merge_a_into_b({"model": {"bbox_head": {"num_classes": 8}}}, BASE)
    message = str(info.value)
    assert message.startswith("`model.bbox_head` is a dict in the child config but a list")
    assert "`_delete_=True`" in message
    with pytest.raises(TypeError, match="`lr` is a dict in the child config but a float"):
        merge_a_into_b({"lr": {"base": 1}}, BASE)


def test_inputs_are_not_modified():
    child = {"model": {"neck": {"_delete_": True, "type": "X"}, "bbox_head": [{"a": 1}]}}
    before = repr(BASE), repr(child)
    merged = merge_a_into_b(child, BASE)
    merged["model"]["bbox_head"][0]["a"] = 2
    merged["model"]["mask_head"]["num_convs"] = 0
    assert (repr(BASE), repr(child)) == before


def test_result_is_a_config_dict_all_the_way_down():
    merged = merge_a_into_b({"model": {"x": [{"y": {"z": 1}}]}}, BASE)
    assert isinstance(merged, ConfigDict)
    assert merged.model.x[0].y.z == 1


def test_list_keys_need_allow_list_keys():
    with pytest.raises(TypeError, match="`model.bbox_head` is a dict"):
        merge_a_into_b({"model": {"bbox_head": {"0": {"num_classes": 8}}}}, BASE)
    merged = merge_a_into_b(
        {"model": {"bbox_head": {"1": {"num_classes": 8}}}}, BASE, allow_list_keys=True
    )
    assert merged["model"]["bbox_head"] == [
        {"type": "A", "num_classes": 80},
        {"type": "B", "num_classes": 8},
    ]


def test_list_key_replaces_a_scalar_element():
    merged = merge_a_into_b({"steps": {"0": 6}}, BASE, allow_list_keys=True)
    assert merged["steps"] == [6, 11]


def test_list_key_out_of_range_is_a_key_error_naming_the_path():
    with pytest.raises(KeyError, match=r"index 2 in `model\.bbox_head\.2` is out of range.*2 "):
        merge_a_into_b({"model": {"bbox_head": {"2": {"num_classes": 8}}}}, BASE, True)


def test_non_digit_key_into_a_list_is_a_key_error():
    with pytest.raises(KeyError, match="`model.bbox_head` is a list"):
        merge_a_into_b({"model": {"bbox_head": {"first": {"a": 1}}}}, BASE, True)


def test_nest_dotted_keys():
    assert nest_dotted_keys({"a.b.c": 1, "a.b.d": 2, "e": 3}) == {
        "a": {"b": {"c": 1, "d": 2}},
        "e": 3,
    }
    with pytest.raises(KeyError, match="invalid config option key 'a..b'"):
        nest_dotted_keys({"a..b": 1})
    with pytest.raises(KeyError, match="conflicts"):
        nest_dotted_keys({"a": 1, "a.b": 2})


def test_child_file_merges_into_base_file(tmp_path):
    (tmp_path / "base.py").write_text("model = dict(neck=dict(type='FPN', n=5), heads=[1, 2])\n")
    (tmp_path / "child.py").write_text(
        "_base_ = 'base.py'\nmodel = dict(neck=dict(type='AugFPN'), heads=[3])\n"
    )
    assert Config.fromfile(tmp_path / "child.py").to_dict() == {
        "model": {"neck": {"type": "AugFPN", "n": 5}, "heads": [3]}
    }
    (tmp_path / "bad.py").write_text("_base_ = 'base.py'\nmodel = dict(heads=dict(a=1))\n")
    with pytest.raises(TypeError, match="`model.heads` is a dict in the child config"):
        Config.fromfile(tmp_path / "bad.py")
