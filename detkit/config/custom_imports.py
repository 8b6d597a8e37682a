"""``custom_imports``: import user modules named in a config so their
``@REGISTRY.register_module()`` decorators run before anything is built.

``custom_imports = dict(imports=['my_pkg.my_neck'], allow_failed_imports=False)``; ``imports``
may also be one string. Two conveniences beyond MMDetection v2, each with a warning that
names the fix:

- an entry ending in ``.py`` (the MMDetection tutorial writes
  ``'mmdet.models.necks.augfpn.py'``, which fails in MMDetection) is imported without it;
- an ``mmdet.``-prefixed entry that cannot be imported because MMDetection is not installed
  is retried under ``detkit.`` (``mmdet.models.necks.augfpn`` -> ``detkit.models.necks.augfpn``).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Mapping
from types import ModuleType
from typing import Any

__all__ = ["import_modules_from_strings", "apply_custom_imports"]


def _strip_py_suffix(name: str, where: str) -> str:
    if not name.endswith(".py"):
        return name
    fixed = name[: -len(".py")]
    warnings.warn(
        f"custom_imports entry {name!r}{where} ends with '.py'; importing {fixed!r} instead. "
        f"Write imports=[{fixed!r}] (a dotted module path, no .py suffix).",
        UserWarning,
        stacklevel=4,
    )
    return fixed


def _import_one(name: str, where: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if not (name.startswith("mmdet.") and exc.name == "mmdet"):
            raise
        fallback = "detkit." + name[len("mmdet.") :]
        module = importlib.import_module(fallback)
        warnings.warn(
            f"custom_imports entry {name!r}{where}: MMDetection is not installed, imported "
            f"{fallback!r} instead; write imports=[{fallback!r}] to silence this warning.",
            UserWarning,
            stacklevel=4,
        )
        return module


def import_modules_from_strings(
    imports: str | list[str] | tuple[str, ...] | None,
    allow_failed_imports: bool = False,
    config_file: str | None = None,
) -> ModuleType | None | list[ModuleType | None]:
    """Import each dotted module path in ``imports``.

    Args:
        imports: one module path or a list of them (falsy: nothing is imported).
        allow_failed_imports: on ImportError, warn "`<name>` failed to import and is
            ignored." and yield None for that entry instead of raising.
        config_file: the config that asked for the imports, named in messages.

    Returns:
        The module (for a string) or the list of modules (None for ignored failures).

    Raises:
        TypeError: ``imports`` is not a str/list of str.
        ImportError: a module cannot be imported (names the module and the config file).
    """
    if not imports:
        return None
    single = isinstance(imports, str)
    names = [imports] if single else imports
    if not isinstance(names, (list, tuple)):
        raise TypeError(
            f"custom_imports.imports must be a str or a list of str, got "
            f"{type(imports).__name__}: {imports!r}"
        )
    where = f" in config {config_file}" if config_file else ""
    modules: list[ModuleType | None] = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError(
                f"custom_imports.imports{where} must contain module path strings, got "
                f"{type(name).__name__}: {name!r}"
            )
        module_name = _strip_py_suffix(name, where)
        try:
            modules.append(_import_one(module_name, where))
        except ImportError as exc:
            if not allow_failed_imports:
                raise ImportError(
                    f"custom_imports{where}: cannot import module {module_name!r}: {exc}"
                ) from exc
            warnings.warn(
                f"{name} failed to import and is ignored ({exc}){where}.",
                UserWarning,
                stacklevel=2,
            )
            modules.append(None)
    return modules[0] if single else modules


def apply_custom_imports(cfg: Mapping[str, Any], config_file: str | None = None) -> None:
    """Run ``import_modules_from_strings(**cfg['custom_imports'])`` if the key is truthy.

    Raises:
        TypeError: ``custom_imports`` is not a dict.
        KeyError: it lacks ``imports`` or has unknown keys.
    """
    spec = cfg.get("custom_imports")
    if not spec:
        return
    where = f" in config {config_file}" if config_file else ""
    if not isinstance(spec, Mapping):
        raise TypeError(
            f"custom_imports{where} must be dict(imports=[...], allow_failed_imports=...), "
            f"got {spec!r}"
        )
    unknown = sorted(set(spec) - {"imports", "allow_failed_imports"})
    if "imports" not in spec or unknown:
        raise KeyError(
            f"custom_imports{where} takes the keys 'imports' and 'allow_failed_imports'; "
            f"got {sorted(spec)}"
        )
    import_modules_from_strings(
        spec["imports"], bool(spec.get("allow_failed_imports", False)), config_file
    )
