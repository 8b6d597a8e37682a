"""The --cfg-options grammar, DictAction and Config.merge_from_dict."""

import argparse

import pytest

from detkit.config import Config, DictAction, parse_option_value
from detkit.config.options import parse_options


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8", 8),
        ("-3", -3),
        ("0.5", 0.5),
        ("1e-4", 1e-4),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("None", None),
        ("none", "none"),
        ("abc", "abc"),
        ("'abc'", "abc"),
        ('"abc"', "abc"),
        ("'8'", 8),
        ("a b", "ab"),
        ("a,b,c", ["a", "b", "c"]),
        ("1,2", [1, 2]),
        ("[1, 2]", [1, 2]),
        ("[1]", [1]),
        ("[]", []),
        ("(1,2)", (1, 2)),
        ("(1,)", (1,)),
        ("()", ()),
        ("[(1,2),(3,4)]", [(1, 2), (3, 4)]),
        ("'[(2048, 800), (2048, 1024)]'", [(2048, 800), (2048, 1024)]),
        ("[[1,2],[3,[4,5]]]", [[1, 2], [3, [4, 5]]]),
        ("(a,[true,None])", ("a", [True, None])),
        ('["bbox","segm"]', ["bbox", "segm"]),
    ],
)
def test_value_grammar(text, expected):
    value = parse_option_value(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("text", ["[1,2", "(1,2]]", "a)"])
def test_unbalanced_brackets(text):
    with pytest.raises(ValueError, match="unbalanced brackets in config option value"):
        parse_option_value(text)


def test_parse_options_splits_on_first_equals():
    assert parse_options(["a.b=1", "c=x=y", "d="]) == {"a.b": 1, "c": "x=y", "d": ""}
    with pytest.raises(ValueError, match="'nokey' must have the form key=value"):
        parse_options(["nokey"])


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="train")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    return parser


def test_dict_action():
    args = make_parser().parse_args(
        [
            "--cfg-options",
            "model.roi_head.bbox_head.0.num_classes=3",
            "data.workers=0",
            "evaluation.metric=bbox,segm",
            "--cfg-options",
            "x=(1,2)",
        ]
    )
    assert args.cfg_options == {
        "model.roi_head.bbox_head.0.num_classes": 3,
        "data.workers": 0,
        "evaluation.metric": ["bbox", "segm"],
        "x": (1, 2),
    }
    assert make_parser().parse_args([]).cfg_options is None


def test_dict_action_reports_bad_tokens_as_usage_errors(capsys):
    with pytest.raises(SystemExit) as info:
        make_parser().parse_args(["--cfg-options", "broken"])
    assert info.value.code == 2
    assert "'broken' must have the form key=value" in capsys.readouterr().err


def seed_like() -> Config:
    return Config(
        dict(
            model=dict(
                neck=dict(type="FPN", num_outs=5),
                roi_head=dict(bbox_head=[dict(num_classes=80, s=i) for i in range(3)]),
            ),
            data=dict(train=dict(pipeline=[dict(type="Load"), dict(type="Resize", s=1)])),
        )
    )


def test_merge_from_dict_nested_and_list_index():
    cfg = seed_like()
    cfg.merge_from_dict(
        {
            "model.neck.type": "AugFPN",
            "model.roi_head.bbox_head.0.num_classes": 3,
            "data.train.pipeline.1.img_scale": (2048, 1024),
            "new.key": [1],
        }
    )
    assert cfg.model.neck.to_dict() == {"type": "AugFPN", "num_outs": 5}
    assert [h.num_classes for h in cfg.model.roi_head.bbox_head] == [3, 80, 80]
    assert [h.s for h in cfg.model.roi_head.bbox_head] == [0, 1, 2]
    assert cfg.data.train.pipeline[1].to_dict() == {
        "type": "Resize",
        "s": 1,
        "img_scale": (2048, 1024),
    }
    assert cfg.new.key == [1]


def test_merge_from_dict_index_out_of_range():
    with pytest.raises(KeyError, match=r"index 3 in `model\.roi_head\.bbox_head\.3`"):
        seed_like().merge_from_dict({"model.roi_head.bbox_head.3.num_classes": 3})


def test_merge_from_dict_without_list_keys():
    with pytest.raises(TypeError, match="`model.roi_head.bbox_head` is a dict"):
        seed_like().merge_from_dict(
            {"model.roi_head.bbox_head.0.num_classes": 3}, allow_list_keys=False
        )


def test_merge_from_dict_rejects_reserved_and_non_dict():
    with pytest.raises(KeyError, match="reserved"):
        seed_like().merge_from_dict({"text": "x"})
    with pytest.raises(TypeError, match="options must be a dict"):
        seed_like().merge_from_dict(["a=1"])
