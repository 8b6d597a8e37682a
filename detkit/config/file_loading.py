"""Load one config file and its ``_base_`` chain into a merged dict (MMDetection v2 rules).

Per file, in order:

1. the suffix must be .py, .json, .yaml or .yml;
2. ``{{ fileDirname }}``, ``{{ fileBasename }}``, ``{{ fileBasenameNoExtension }}`` and
   ``{{ fileExtname }}`` are replaced textually by the file's path parts;
3. each ``{{ _base_.a.b }}`` is replaced by a unique token (a Python name bound to its own
   text while a .py file runs, plain text inside strings and in JSON/YAML);
4. a .py file is syntax-checked (the error names file and line) and executed; its
   module-level names not starting with ``__`` that are not modules or functions become
   keys. JSON/YAML files are parsed;
5. reserved keys (``filename``, ``text``, ``pretty_text``) are refused; a ``_deprecation_``
   dict triggers a DeprecationWarning and is removed;
6. the ``_base_`` files (one path or a list, relative to this file) are loaded recursively
   (a missing file or a cycle is an error naming the files), combined (a top-level key in two
   bases is a KeyError), tokens are replaced by the base values (a token that is a whole
   string becomes the value itself, of any type), and this file is merged into them
   (:func:`detkit.config.merging.merge_a_into_b`).

MMDetection 3.x additions: a ``_base_`` entry ``'mmdet::path'`` is read from a local
MMDetection (:mod:`detkit.config.v3.scope`); a pure-Python config (``with read_base():``) is
loaded by :mod:`detkit.config.v3.pure_python`.
"""

from __future__ import annotations

import ast
import builtins
import copy
import os
import re
import traceback
import uuid
import warnings
from pathlib import Path
from types import BuiltinFunctionType, FunctionType, ModuleType
from typing import Any

from detkit.config.config_dict import ConfigDict
from detkit.config.formats import PY_SUFFIX, SUPPORTED_SUFFIXES, parse_data_text
from detkit.config.merging import merge_a_into_b
from detkit.config.v3.pure_python import is_pure_python, load_pure_python
from detkit.config.v3.scope import SCOPE_PREFIX, mmdet_config_file

__all__ = ["BASE_KEY", "DEPRECATION_KEY", "RESERVED_KEYS", "load_config_file"]

BASE_KEY = "_base_"
DEPRECATION_KEY = "_deprecation_"
RESERVED_KEYS = ("filename", "text", "pretty_text")
_BASE_VAR = re.compile(r"\{\{\s*" + BASE_KEY + r"\.([\w.]+)\s*\}\}")


def _substitute_predefined(text: str, path: Path) -> str:
    stem, ext = os.path.splitext(path.name)
    values = {
        "fileDirname": str(path.parent),
        "fileBasename": path.name,
        "fileBasenameNoExtension": stem,
        "fileExtname": ext,
    }
    for name, value in values.items():
        text = re.sub(r"\{\{\s*" + name + r"\s*\}\}", value.replace("\\", "/"), text)
    return text


def _tokenize_base_vars(text: str) -> tuple[str, dict[str, str]]:
    """Replace ``{{ _base_.a.b }}`` by unique tokens; return the text and token -> 'a.b'."""
    salt = uuid.uuid4().hex[:8]
    tokens: dict[str, str] = {}
    by_path: dict[str, str] = {}

    def _token(match: re.Match[str]) -> str:
        path = match.group(1)
        if path not in by_path:
            by_path[path] = f"__detkit_base_{salt}_{len(by_path)}__"
            tokens[by_path[path]] = path
        return by_path[path]

    return _BASE_VAR.sub(_token, text), tokens


def _exec_python(text: str, path: Path, tokens: dict[str, str]) -> dict[str, Any]:
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise SyntaxError(
            f"config file {path} has a syntax error at line {exc.lineno}: {exc.msg}",
            (str(path), exc.lineno, exc.offset, exc.text),
        ) from None
    namespace: dict[str, Any] = {
        "__file__": str(path),
        "__name__": "__detkit_config__",
        "__builtins__": builtins,
        **{token: token for token in tokens},
    }
    try:
        exec(compile(tree, str(path), "exec"), namespace)
    except NameError as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        line = next((f.lineno for f in reversed(frames) if f.filename == str(path)), None)
        raise NameError(
            f"config file {path}, line {line}: {exc}. Names defined in `_base_` files are not "
            f"variables here: define it again, or use {{{{ _base_.{exc.name} }}}}",
            name=exc.name,
        ) from exc
    return {
        name: value
        for name, value in namespace.items()
        if not name.startswith("__")
        and not isinstance(value, (ModuleType, FunctionType, BuiltinFunctionType))
    }


def _lookup(base_cfg: dict[str, Any] | None, dotted: str, where: str) -> Any:
    if base_cfg is None:
        raise KeyError(f"config file {where} uses {{{{ _base_.{dotted} }}}} but has no `_base_`")
    node: Any = base_cfg
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(f"{{{{ _base_.{dotted} }}}} in {where}: the bases have no `{dotted}`")
    return copy.deepcopy(node)


def _replace_tokens(
    value: Any, tokens: dict[str, str], base_cfg: dict[str, Any] | None, where: str, path: str
) -> Any:
    """``value`` with the used tokens replaced by base values (looked up only when used)."""
    if isinstance(value, dict):
        return {
            k: _replace_tokens(v, tokens, base_cfg, where, f"{path}.{k}" if path else str(k))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        items = [
            _replace_tokens(v, tokens, base_cfg, where, f"{path}.{i}") for i, v in enumerate(value)
        ]
        return items if isinstance(value, list) else tuple(items)
    if not isinstance(value, str):
        return value
    if value in tokens:
        return _lookup(base_cfg, tokens[value], where)
    for token, dotted in tokens.items():
        if token in value:
            replacement = _lookup(base_cfg, dotted, where)
            if isinstance(replacement, (dict, list, tuple)):
                raise TypeError(
                    f"`{path}` in {where} embeds a {{{{ _base_... }}}} reference to a "
                    f"{type(replacement).__name__} inside a string; use it as the whole value"
                )
            value = value.replace(token, str(replacement))
    return value


def _check_keys(cfg: dict[str, Any], path: Path) -> None:
    for key in RESERVED_KEYS:
        if key in cfg:
            raise KeyError(f"`{key}` is a reserved key and cannot be set in config file {path}")
    deprecation = cfg.pop(DEPRECATION_KEY, None)
    if deprecation is not None:
        message = f"The config file {path} will be deprecated in the future."
        if "expected" in deprecation:
            message += f" Please use {deprecation['expected']} instead."
        if "reference" in deprecation:
            message += f" More information can be found at {deprecation['reference']}"
        warnings.warn(message, DeprecationWarning, stacklevel=4)


def _base_paths(declared: Any, path: Path) -> list[Path]:
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"`_base_` in {path} must be a str or a list of str, got {declared!r}")
    return [
        mmdet_config_file(name[len(SCOPE_PREFIX) :])
        if name.startswith(SCOPE_PREFIX)
        else Path(os.path.normpath(path.parent / name))
        for name in names
    ]


def _load_bases(
    bases: list[Path], path: Path, chain: tuple[Path, ...], use_predefined: bool
) -> tuple[ConfigDict, list[str]]:
    combined = ConfigDict()
    key_source: dict[str, Path] = {}
    texts = []
    for base in bases:
        if not base.is_file():
            raise FileNotFoundError(f"base config {base} (listed in `_base_` of {path}) not found")
        if base in chain:
            loop = " -> ".join(str(p) for p in chain[chain.index(base) :] + (base,))
            raise ValueError(f"`_base_` cycle: {loop}")
        base_cfg, base_text = _load(base, chain, use_predefined)
        for key in base_cfg:
            if key in key_source:
                raise KeyError(
                    f"duplicate key `{key}` among the bases of {path}: defined in both "
                    f"{key_source[key]} and {base}"
                )
            key_source[key] = base
        combined.update(base_cfg)
        texts.append(base_text)
    return combined, texts


def _load(
    path: Path, chain: tuple[Path, ...], use_predefined: bool, pure: bool = False
) -> tuple[ConfigDict, str]:
    if path.suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(
            f"config file {path} has an unsupported type {path.suffix!r}: only "
            f"{', '.join(SUPPORTED_SUFFIXES)} files are supported"
        )
    try:
        raw_text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"config file {path} is not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from exc
    text = _substitute_predefined(raw_text, path) if use_predefined else raw_text
    if path.suffix == PY_SUFFIX and (pure or is_pure_python(text)):  # MMEngine's read_base()
        values = load_pure_python(
            path, text, lambda b: _load(b, chain + (path,), use_predefined, pure=True)[0]
        )
        return ConfigDict(values), f"{path}\n{raw_text}"
    text, tokens = _tokenize_base_vars(text)
    if path.suffix == PY_SUFFIX:
        cfg = _exec_python(text, path, tokens)
    else:
        cfg = parse_data_text(text, path.suffix, str(path))
    _check_keys(cfg, path)
    if BASE_KEY not in cfg:
        cfg = _replace_tokens(cfg, tokens, None, str(path), "") if tokens else cfg
        return ConfigDict(cfg), f"{path}\n{raw_text}"
    bases = _base_paths(cfg.pop(BASE_KEY), path)
    base_cfg, texts = _load_bases(bases, path, chain + (path,), use_predefined)
    cfg = _replace_tokens(cfg, tokens, base_cfg, str(path), "")
    merged = merge_a_into_b(cfg, base_cfg)
    return merged, "\n".join(texts + [f"{path}\n{raw_text}"])


def load_config_file(
    filename: str | os.PathLike[str], use_predefined_variables: bool = True
) -> tuple[ConfigDict, str]:
    """Load ``filename`` with its ``_base_`` chain.

    Returns:
        (merged config, the raw texts of the bases and the file, each after its path).

    Raises:
        ValueError: unsupported suffix, unparsable JSON/YAML, or a ``_base_`` cycle.
        FileNotFoundError: the file or one of its bases is missing (names the referrer).
        SyntaxError: a .py file does not parse (names file and line).
        NameError: a .py file uses an undefined name, e.g. one from a base (file and line).
        KeyError: a reserved key, a key duplicated among bases, or a missing
            ``{{ _base_.x }}`` target.
        TypeError: a child dict over a non-dict base value (names the key path).
    """
    path = Path(os.path.abspath(os.path.expanduser(os.fspath(filename))))
    if path.suffix in SUPPORTED_SUFFIXES and not path.is_file():
        raise FileNotFoundError(f"config file {filename} not found")
    return _load(path, (), use_predefined_variables)
