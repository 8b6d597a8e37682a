"""detkit.registry: registration forms, build() semantics and actionable error messages."""

import pytest

from detkit import registry
from detkit.config import Config
from detkit.registry import Registry, build


@pytest.fixture
def reg() -> Registry:
    return Registry("toys")


def test_decorator_with_and_without_parentheses(reg):
    @reg.register_module()
    class WithParens:
        pass

    @reg.register_module
    class NoParens:
        pass

    assert reg.get("WithParens") is WithParens and reg.get("NoParens") is NoParens
    assert list(reg) == ["NoParens", "WithParens"] and len(reg) == 2


def test_name_and_alias_list(reg):
    @reg.register_module(name="Short")
    class LongName:
        pass

    @reg.register_module(name=["A", "B"])
    def make_thing(x=1):
        return ("thing", x)

    assert reg.get("Short") is LongName and reg.get("LongName") is None
    assert reg.get("A") is reg.get("B") is make_thing
    assert build(dict(type="B", x=2), reg) == ("thing", 2)


def test_register_with_module_argument(reg):
    class Plain:
        pass

    assert reg.register_module(module=Plain) is Plain
    assert "Plain" in reg and "Other" not in reg and 3 not in reg


def test_duplicate_name_is_a_key_error_unless_forced(reg):
    @reg.register_module()
    class Thing:
        pass

    with pytest.raises(KeyError, match="Thing is already registered in the toys registry"):

        @reg.register_module()
        class Thing:  # noqa: F811
            pass

    @reg.register_module(force=True)
    class Thing:  # noqa: F811
        version = 2

    assert reg.get("Thing").version == 2


def test_alias_list_with_one_taken_name_registers_nothing(reg):
    reg.register_module(name="Taken", module=int)
    with pytest.raises(KeyError, match="Taken is already registered"):
        reg.register_module(name=["Fresh", "Taken"], module=float)
    assert "Fresh" not in reg


def test_non_callable_and_bad_arguments_are_type_errors(reg):
    with pytest.raises(TypeError, match="only classes and functions can be registered in the toys"):
        reg.register_module(module=3)
    with pytest.raises(TypeError, match="force must be a bool"):
        reg.register_module(force="yes")
    with pytest.raises(TypeError, match="name must be None, a str or a list of str"):
        reg.register_module(name=["ok", 3], module=int)


class Point:
    def __init__(self, x: int, y: int = 0) -> None:
        self.x, self.y = x, y


def test_build_from_dict_with_default_args_setdefault(reg):
    reg.register_module(module=Point)
    point = build(dict(type="Point", x=1), reg, default_args=dict(x=9, y=2))
    assert (point.x, point.y) == (1, 2)  # cfg wins over default_args
    point = build(dict(x=5), reg, default_args=dict(type="Point"))  # type from defaults
    assert (point.x, point.y) == (5, 0)


def test_build_accepts_config_dict_and_scoped_names(reg):
    reg.register_module(module=Point)
    cfg = Config(dict(model=dict(type="mmdet.Point", x=3)))
    assert build(cfg.model, reg).x == 3


def test_build_passes_built_objects_and_none_through(reg):
    built = Point(1)
    assert build(built, reg) is built
    assert build(None, reg) is None


def test_type_given_as_a_class(reg):
    point = build(dict(type=Point, x=4), reg)
    assert isinstance(point, Point) and point.x == 4


def test_build_type_errors(reg):
    with pytest.raises(TypeError, match="cannot build a toys component from str 'Point'"):
        build("Point", reg)
    with pytest.raises(TypeError, match=r"`model.neck.type` must be a str or a class, got 3"):
        build(dict(type=3), reg, key_path="model.neck")


def test_missing_type_key(reg):
    with pytest.raises(KeyError, match=r"`model.neck` has no 'type' key \(registry: toys\)"):
        build(dict(x=1), reg, key_path="model.neck")


def test_unknown_type_names_registry_key_path_and_closest_names(reg):
    for name in ("FPN", "PAFPN", "AugFPN", "ResNet"):
        reg.register_module(name=name, module=Point)
    with pytest.raises(KeyError) as info:
        build(dict(type="AugFPNN"), reg, key_path="model.neck")
    message = str(info.value)
    assert "AugFPNN is not in the toys registry" in message
    assert "(config key `model.neck.type`)" in message
    assert "did you mean AugFPN" in message and "ResNet" not in message
    assert "custom_imports" in message
    with pytest.raises(KeyError, match="did you mean FPN"):
        build(dict(type="fpn"), reg)


class Parent:
    """Builds its child inside __init__, as MMDetection heads do."""

    def __init__(self, child: dict, registry_: Registry) -> None:
        self.child = build(child, registry_)


def test_nested_build_reports_the_nested_key_path(reg):
    reg.register_module(module=Point)
    cfg = dict(type=Parent, child=dict(type="Missing"), registry_=reg)
    with pytest.raises(KeyError, match=r"config key `model\.neck\.child\.type`"):
        build(cfg, reg, key_path="model.neck")
    parent = build(dict(type=Parent, child=dict(type="Point", x=1), registry_=reg), reg)
    assert parent.child.x == 1


def test_nested_build_inside_a_list_reports_the_index(reg):
    class Stages:
        def __init__(self, heads: list) -> None:
            self.heads = [build(h, reg) for h in heads]

    reg.register_module(module=Point)
    cfg = dict(type=Stages, heads=[dict(type="Point", x=1), dict(type="Nope")])
    with pytest.raises(KeyError, match=r"`model\.roi_head\.heads\.1\.type`"):
        build(cfg, reg, key_path="model.roi_head")


def test_constructor_error_keeps_its_type_with_class_name_and_key_path(reg):
    class Fussy:
        def __init__(self, size: int) -> None:
            if size < 0:
                raise ValueError(f"size must be >= 0, got {size}")

    reg.register_module(module=Fussy)
    with pytest.raises(ValueError, match=r"^Fussy \(config key `model\.neck`\): size must be"):
        build(dict(type="Fussy", size=-1), reg, key_path="model.neck")
    with pytest.raises(TypeError, match=r"^Fussy \(config key `<config>`\): .*unexpected"):
        build(dict(type="Fussy", size=1, extra=2), reg)


def test_nested_constructor_error_is_prefixed_once(reg):
    class Fussy:
        def __init__(self) -> None:
            raise RuntimeError("broken")

    reg.register_module(module=Fussy)
    with pytest.raises(RuntimeError) as info:
        build(dict(type=Parent, child=dict(type="Fussy"), registry_=reg), reg, key_path="model")
    assert str(info.value) == "Fussy (config key `model.child`): broken"


def test_exception_types_needing_extra_arguments_become_runtime_errors(reg):
    class Decoder:
        def __init__(self) -> None:
            b"\xff".decode("utf-8")

    with pytest.raises(RuntimeError, match=r"^Decoder \(config key `<config>`\): 'utf-8' codec"):
        build(dict(type=Decoder), reg)


def test_model_registries_are_aliases_of_models():
    for alias in (
        registry.BACKBONES,
        registry.NECKS,
        registry.HEADS,
        registry.ROI_EXTRACTORS,
        registry.SHARED_HEADS,
        registry.LOSSES,
        registry.DETECTORS,
    ):
        assert alias is registry.MODELS
    assert registry.ANCHOR_GENERATORS is registry.PRIOR_GENERATORS
    others = [
        registry.DATASETS,
        registry.PIPELINES,
        registry.BBOX_ASSIGNERS,
        registry.BBOX_SAMPLERS,
        registry.BBOX_CODERS,
        registry.PRIOR_GENERATORS,
        registry.IOU_CALCULATORS,
        registry.HOOKS,
        registry.OPTIMIZERS,
        registry.MODELS,
    ]
    assert len({id(r) for r in others}) == len(others)
    assert registry.MODELS.name == "models" and registry.DATASETS.name == "dataset"


def test_registering_through_an_alias_lands_in_models():
    @registry.NECKS.register_module(name="_RegistryTestNeck")
    class Neck:
        pass

    try:
        assert registry.MODELS.get("_RegistryTestNeck") is Neck
        assert registry.DATASETS.get("_RegistryTestNeck") is None
    finally:
        registry.MODELS._module_dict.pop("_RegistryTestNeck")


def test_child_built_from_a_copied_config_names_its_parent(reg):
    class CopyingParent:
        def __init__(self, child: dict) -> None:
            self.child = build(dict(child), reg)

    with pytest.raises(KeyError, match=r"`model\.neck\.<built inside>\.type`"):
        build(dict(type=CopyingParent, child=dict(type="Nope")), reg, key_path="model.neck")
