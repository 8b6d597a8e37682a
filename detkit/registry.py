"""Registries: name -> class maps, and the one way to build a component from a config.

MMDetection-v2 compatible: ``@NECKS.register_module()`` works as in mmdet, and
``BACKBONES``, ``NECKS``, ``HEADS``, ``ROI_EXTRACTORS``, ``SHARED_HEADS``, ``LOSSES`` and
``DETECTORS`` are aliases of a single ``MODELS`` registry.

``build(cfg, REGISTRY, default_args)`` accepts a config dict (``type`` plus keyword
arguments) or an already built object, which passes through unchanged. Errors name the
registry, the config key path (``model.neck.type``) and the closest registered names.

Each registry names the modules that define detkit's own classes for it (``locations``, as
MMEngine's registries do) and imports them on first use, so ``build(dict(type='Rotate'),
PIPELINES)`` works in a fresh interpreter that imported only ``detkit.registry``, and close-name
suggestions always see the built-ins. The modules are named as strings, so importing this
module imports nothing above it.
"""

from __future__ import annotations

import contextvars
import difflib
import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = [
    "Registry",
    "build",
    "MODELS",
    "BACKBONES",
    "NECKS",
    "HEADS",
    "ROI_EXTRACTORS",
    "SHARED_HEADS",
    "LOSSES",
    "DETECTORS",
    "DATASETS",
    "PIPELINES",
    "BBOX_ASSIGNERS",
    "BBOX_SAMPLERS",
    "BBOX_CODERS",
    "PRIOR_GENERATORS",
    "ANCHOR_GENERATORS",
    "IOU_CALCULATORS",
    "HOOKS",
    "OPTIMIZERS",
]

# Scopes accepted in front of a type name (``'mmdet.FPN'``) for configs written for mmdet.
_KNOWN_SCOPES = ("detkit", "mmdet", "mmcv")


class Registry:
    """A named map from strings to classes or functions.

    Args:
        name: registry name used in messages, e.g. ``'models'``.
        locations: modules (dotted names) whose import registers the built-in classes; they
            are imported once, on the first lookup (``get``, ``in``, iteration, ``len``).
    """

    def __init__(self, name: str, locations: tuple[str, ...] | list[str] = ()) -> None:
        self.name = name
        self.locations = tuple(locations)
        self._module_dict: dict[str, type | Callable[..., Any]] = {}
        self._imported = not self.locations

    def import_from_location(self) -> None:
        """Import ``locations`` (once) so that every built-in class is registered."""
        if self._imported:
            return
        self._imported = True  # set first: the imported modules register into this registry
        try:
            for location in self.locations:
                importlib.import_module(location)
        except BaseException:
            self._imported = False
            raise

    def __len__(self) -> int:
        self.import_from_location()
        return len(self._module_dict)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        self.import_from_location()
        return iter(sorted(self._module_dict))

    def __repr__(self) -> str:
        return f"Registry(name={self.name!r}, items={sorted(self._module_dict)})"

    @property
    def module_dict(self) -> dict[str, type | Callable[..., Any]]:
        self.import_from_location()
        return dict(self._module_dict)

    def get(self, key: str) -> type | Callable[..., Any] | None:
        """Return the class registered as ``key`` (an optional ``mmdet.``-style scope is
        ignored), or None. The built-ins are imported on the first call."""
        self.import_from_location()
        scope, _, bare = key.rpartition(".")
        if scope and scope in _KNOWN_SCOPES:
            key = bare
        return self._module_dict.get(key)

    def closest(self, key: str, n: int = 3) -> list[str]:
        """Registered names (built-ins included) most similar to ``key`` (for error messages)."""
        self.import_from_location()
        names = list(self._module_dict)
        close = difflib.get_close_matches(key, names, n=n, cutoff=0.4)
        lowered = [k for k in names if k.lower() == key.lower() and k not in close]
        return lowered + close

    def _register(self, module: Any, names: str | list[str] | None, force: bool) -> None:
        if not callable(module):
            raise TypeError(
                f"only classes and functions can be registered in the {self.name} registry, "
                f"got {type(module).__name__}: {module!r}"
            )
        if names is None:
            names = [module.__name__]
        elif isinstance(names, str):
            names = [names]
        elif not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise TypeError(f"name must be None, a str or a list of str, got {names!r}")
        for name in names:
            if not force and name in self._module_dict:
                existing = self._module_dict[name]
                raise KeyError(
                    f"{name} is already registered in the {self.name} registry "
                    f"(by {existing.__module__}.{existing.__qualname__}); "
                    "pass force=True to replace it"
                )
        for name in names:
            self._module_dict[name] = module

    def register_module(
        self,
        name: str | list[str] | None | type | Callable[..., Any] = None,
        force: bool = False,
        module: type | Callable[..., Any] | None = None,
    ) -> Any:
        """Register a class or function.

        Usable as ``@REG.register_module()``, ``@REG.register_module`` (no parentheses),
        ``@REG.register_module(name='Alias')``, ``@REG.register_module(name=['A', 'B'])``,
        ``@REG.register_module(force=True)`` or ``REG.register_module(module=Cls)``.
        """
        if not isinstance(force, bool):
            raise TypeError(f"force must be a bool, got {type(force).__name__}")
        if isinstance(name, type) or (callable(name) and not isinstance(name, str)):
            # Used as a bare decorator: ``@REG.register_module``.
            self._register(name, None, force)
            return name
        if module is not None:
            self._register(module, name, force)
            return module

        def _decorator(cls: Any) -> Any:
            self._register(cls, name, force)
            return cls

        return _decorator


# Stack of (key path, config) of the builds in progress, so that a nested build (a head
# building its loss inside ``__init__``) can report where in the config it sits.
_BUILD_STACK: contextvars.ContextVar[tuple[tuple[str, Any], ...]] = contextvars.ContextVar(
    "detkit_build_stack", default=()
)


def _find_path(root: Any, target: Any, prefix: str) -> str | None:
    """Dotted path of ``target`` (by identity) inside nested dicts/lists ``root``."""
    if root is target:
        return prefix
    if isinstance(root, Mapping):
        items = ((str(k), v) for k, v in root.items())
    elif isinstance(root, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(root))
    else:
        return None
    for key, value in items:
        if isinstance(value, (Mapping, list, tuple)):
            found = _find_path(value, target, f"{prefix}.{key}" if prefix else key)
            if found is not None:
                return found
    return None


def _key_path(cfg: Mapping, key_path: str | None) -> str:
    if key_path is not None:
        return key_path
    stack = _BUILD_STACK.get()
    for parent_path, parent_cfg in reversed(stack):
        found = _find_path(parent_cfg, cfg, parent_path)
        if found is not None:
            return found
    # A parent built this from a copy of its config: name the parent at least.
    return f"{stack[-1][0]}.<built inside>" if stack else "<config>"


def _annotate(exc: Exception, message: str) -> Exception:
    """Same exception type with ``message``, or a RuntimeError if the type refuses it."""
    try:
        new = type(exc)(message)
    except Exception:  # exception types with mandatory extra arguments
        new = RuntimeError(message)
    new._detkit_annotated = True  # type: ignore[attr-defined]
    return new


def build(
    cfg: Any,
    registry: Registry,
    default_args: Mapping[str, Any] | None = None,
    key_path: str | None = None,
) -> Any:
    """Build a component from ``cfg`` with ``registry``.

    Args:
        cfg: a mapping with a ``type`` key (a registered name or a class) and the
            constructor's keyword arguments, or an already built object, returned as is.
            ``None`` is returned as ``None``.
        registry: where ``type`` names are looked up.
        default_args: keyword arguments used when absent from ``cfg``.
        key_path: dotted location of ``cfg`` in the full config (``'model.neck'``), used
            in error messages; found automatically for builds nested in another build.

    Raises:
        KeyError: ``type`` is missing or not registered (names the registry, the key
            path and the closest registered names).
        TypeError: ``cfg`` is neither a mapping nor a built object.
        Exception: any constructor error, re-raised as the same type prefixed with the
            class name and key path.
    """
    if cfg is None:
        return None
    if not isinstance(cfg, Mapping):
        if isinstance(cfg, (str, int, float, bool, list, tuple)):
            raise TypeError(
                f"cannot build a {registry.name} component from {type(cfg).__name__} "
                f"{cfg!r}: expected a config dict with a 'type' key or a built object"
            )
        return cfg
    path = _key_path(cfg, key_path)
    args = dict(cfg)
    if default_args is not None:
        for name, value in default_args.items():
            args.setdefault(name, value)
    if "type" not in args:
        raise KeyError(
            f"`{path}` has no 'type' key (registry: {registry.name}); got keys {sorted(args)}"
        )
    obj_type = args.pop("type")
    if isinstance(obj_type, str):
        obj_cls = registry.get(obj_type)
        if obj_cls is None:
            close = registry.closest(obj_type)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(
                f"{obj_type} is not in the {registry.name} registry "
                f"(config key `{path}.type`){hint} If it is your own class, import its "
                "module first, e.g. with custom_imports=dict(imports=['your.module'])."
            )
    elif callable(obj_type):
        obj_cls = obj_type
    else:
        raise TypeError(f"`{path}.type` must be a str or a class, got {obj_type!r}")

    token = _BUILD_STACK.set(_BUILD_STACK.get() + ((path, cfg),))
    try:
        return obj_cls(**args)
    except Exception as exc:
        if getattr(exc, "_detkit_annotated", False):
            raise
        name = getattr(obj_cls, "__name__", str(obj_cls))
        raise _annotate(exc, f"{name} (config key `{path}`): {exc}") from exc
    finally:
        _BUILD_STACK.reset(token)


# Packages whose import registers the built-ins (their __init__ imports every defining module).
_TASK_MODULES = ("detkit.models.task_modules",)
MODELS = Registry("models", locations=("detkit.models",))
BACKBONES = NECKS = HEADS = ROI_EXTRACTORS = SHARED_HEADS = LOSSES = DETECTORS = MODELS
DATASETS = Registry("dataset", locations=("detkit.data.datasets",))
PIPELINES = Registry("pipeline", locations=("detkit.data.transforms",))
BBOX_ASSIGNERS = Registry("bbox_assigner", locations=_TASK_MODULES)
BBOX_SAMPLERS = Registry("bbox_sampler", locations=_TASK_MODULES)
BBOX_CODERS = Registry("bbox_coder", locations=_TASK_MODULES)
PRIOR_GENERATORS = ANCHOR_GENERATORS = Registry("prior_generator", locations=_TASK_MODULES)
IOU_CALCULATORS = Registry("iou_calculator", locations=_TASK_MODULES)
HOOKS = Registry("hook", locations=("detkit.engine.hooks",))
OPTIMIZERS = Registry("optimizer", locations=("detkit.engine.optim",))
