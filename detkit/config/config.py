"""``Config``: an MMDetection-v2 config file loaded into attribute-accessible dicts.

>>> cfg = Config(dict(model=dict(type='CascadeRCNN', neck=dict(type='FPN'))))
>>> cfg.model.neck.type
'FPN'
>>> cfg.merge_from_dict({'model.neck.type': 'AugFPN'})
>>> cfg['model']['neck']['type']
'AugFPN'
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from detkit.config.config_dict import ConfigDict
from detkit.config.custom_imports import apply_custom_imports
from detkit.config.file_loading import RESERVED_KEYS, load_config_file
from detkit.config.formats import PY_SUFFIX, SUPPORTED_SUFFIXES, dump_data
from detkit.config.merging import merge_a_into_b, nest_dotted_keys
from detkit.config.option_keys import describe_new_keys, new_option_keys
from detkit.config.pretty import find_non_literal, format_config
from detkit.config.translators import translate_schema
from detkit.io import write_text

__all__ = ["Config"]

_OWN_ATTRIBUTES = ("_cfg_dict", "_filename", "_text")


class Config:
    """A merged config: attribute and item access to nested ``ConfigDict`` values.

    Args:
        cfg_dict: the config values (top-level keys ``filename``, ``text`` and
            ``pretty_text`` are reserved).
        filename: the file it was loaded from, if any.
        text: the raw text of that file and its bases (if omitted: read from ``filename``
            when that file exists, else empty).
    """

    _cfg_dict: ConfigDict
    _filename: str | None
    _text: str

    def __init__(
        self,
        cfg_dict: Mapping[str, Any] | None = None,
        filename: str | os.PathLike[str] | None = None,
        text: str | None = None,
    ) -> None:
        if cfg_dict is None:
            cfg_dict = {}
        if not isinstance(cfg_dict, Mapping):
            raise TypeError(f"cfg_dict must be a dict, got {type(cfg_dict).__name__}")
        for key in RESERVED_KEYS:
            if key in cfg_dict:
                raise KeyError(f"`{key}` is a reserved key and cannot be a config key")
        if text is None:
            has_file = filename is not None and Path(filename).is_file()
            text = Path(filename).read_text(encoding="utf-8") if filename and has_file else ""
        object.__setattr__(self, "_cfg_dict", ConfigDict(cfg_dict))
        object.__setattr__(self, "_filename", os.fspath(filename) if filename else None)
        object.__setattr__(self, "_text", text)

    @classmethod
    def fromfile(
        cls,
        filename: str | os.PathLike[str],
        use_predefined_variables: bool = True,
        import_custom_modules: bool = True,
        translate: bool = True,
    ) -> Config:
        """Load a .py/.json/.yaml/.yml config with its ``_base_`` files; a config of another
        schema (MMDetection 3.x) is translated to detkit's v2 schema
        (:mod:`detkit.config.translators`) unless ``translate`` is False.

        With ``import_custom_modules`` the modules in ``custom_imports`` are imported (so
        their registry decorators run); ``custom_imports`` stays in the config.
        See :func:`detkit.config.file_loading.load_config_file` for the errors raised.
        """
        cfg_dict, text = load_config_file(filename, use_predefined_variables)
        if translate:  # off: the converter reads a v3 file as written
            cfg_dict = ConfigDict(translate_schema(cfg_dict, f"config file {filename}"))
        if import_custom_modules:
            apply_custom_imports(cfg_dict, os.fspath(filename))
        return cls(cfg_dict, filename=filename, text=text)

    @classmethod
    def load(
        cls,
        source: str | os.PathLike[str] | Config,
        cfg_options: Mapping[str, Any] | None = None,
        strict: bool = False,
    ) -> Config:
        """The config an entry point runs with: ``source`` read (a ``Config`` is copied), its
        schema translated, ``${a.b}`` references resolved, the ``MMDET_DATASETS`` override
        applied, ``cfg_options`` merged (``strict``: an unknown key is a KeyError) and the
        legacy ``total_epochs`` turned into ``runner``. See :mod:`detkit.config.loading`.

        >>> cfg = Config.load(Config(dict(scale=(512, 256), size="${scale}", total_epochs=2)))
        >>> cfg.size, cfg.runner.max_epochs
        ((512, 256), 2)
        """
        from detkit.config.loading import load_config  # loading builds on this module

        return load_config(source, cfg_options, strict)

    @classmethod
    def fromstring(cls, text: str, file_format: str) -> Config:
        """Load config ``text`` written in ``file_format`` (``'.py'``, ``'.json'``, ``'.yaml'``,
        ``'.yml'``), e.g. the ``meta['config']`` string of a checkpoint. ``_base_`` paths
        cannot be resolved here. Custom imports are applied."""
        if file_format not in SUPPORTED_SUFFIXES:
            raise ValueError(
                f"file_format must be one of {', '.join(SUPPORTED_SUFFIXES)}, got {file_format!r}"
            )
        with tempfile.TemporaryDirectory() as tmp_dir:
            path = Path(tmp_dir) / f"config{file_format}"
            path.write_text(text, encoding="utf-8")
            loaded = cls.fromfile(path)
        return cls(loaded._cfg_dict, filename=None, text=text)

    @property
    def filename(self) -> str | None:
        """The path the config was loaded from (as given), or None."""
        return self._filename

    @property
    def text(self) -> str:
        """Raw text of the file and all its bases, each preceded by its path."""
        return self._text

    @property
    def pretty_text(self) -> str:
        """The merged config as Python source; executing it gives back the same dict."""
        return format_config(self._cfg_dict.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """Deep copy of the values as plain dicts."""
        return self._cfg_dict.to_dict()

    def dump(self, path: str | os.PathLike[str] | None = None) -> str | None:
        """Write the merged config to ``path`` (.py, .json, .yaml or .yml); without a path,
        return :attr:`pretty_text`. Re-loading the file gives the same dict (JSON turns
        tuples into lists).

        Raises:
            ValueError: unsupported suffix, or a value a .py file cannot hold (names its
                key path).
        """
        if path is None:
            return self.pretty_text
        path = Path(path)
        if path.suffix not in SUPPORTED_SUFFIXES:
            raise ValueError(
                f"cannot dump config to {path}: use one of {', '.join(SUPPORTED_SUFFIXES)}"
            )
        plain = self._cfg_dict.to_dict()
        bad_key = find_non_literal(plain)
        if bad_key is not None:
            raise ValueError(
                f"cannot dump config to {path}: `{bad_key}` holds a non-literal value "
                f"({type(self._lookup(bad_key)).__name__}) that would not load back"
            )
        if path.suffix == PY_SUFFIX:
            write_text(path, format_config(plain))
        else:
            dump_data(plain, path)
        return None

    def _lookup(self, dotted: str) -> Any:
        node: Any = self._cfg_dict
        for part in dotted.split("."):
            node = node[int(part)] if isinstance(node, (list, tuple)) else node[part]
        return node

    def merge_from_dict(
        self, options: Mapping[str, Any], allow_list_keys: bool = True, strict: bool = False
    ) -> None:
        """Merge dotted-key ``options`` (``{'model.neck.type': 'AugFPN'}``) into the config.

        With ``allow_list_keys`` a digit part indexes a list
        (``'model.roi_head.bbox_head.0.num_classes'``); out of range is a KeyError. A key that
        does not exist yet is added (mmcv) with a warning naming it and the closest existing
        key; with ``strict`` (``--strict-cfg-options``) it is a KeyError and nothing is merged.
        """
        if not isinstance(options, Mapping):
            raise TypeError(f"options must be a dict, got {type(options).__name__}")
        new_keys = new_option_keys(options, self._cfg_dict)
        if new_keys and strict:
            raise KeyError(f"config option keys not in the config: {describe_new_keys(new_keys)}")
        if new_keys:
            warnings.warn(
                "config options add keys that were not in the config: "
                f"{describe_new_keys(new_keys)}; "
                "a misspelt key is never read (pass --strict-cfg-options to fail instead)",
                UserWarning,
                stacklevel=2,
            )
        merged = merge_a_into_b(nest_dotted_keys(options), self._cfg_dict, allow_list_keys)
        for key in RESERVED_KEYS:
            if key in merged:
                raise KeyError(f"`{key}` is a reserved key and cannot be a config key")
        object.__setattr__(self, "_cfg_dict", merged)

    # --- mapping / attribute protocol, delegated to the ConfigDict ---
    def __getattr__(self, name: str) -> Any:
        if name in _OWN_ATTRIBUTES or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._cfg_dict, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        delattr(self._cfg_dict, name)

    def __getitem__(self, key: str) -> Any:
        return self._cfg_dict[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in RESERVED_KEYS or key in _OWN_ATTRIBUTES:
            raise KeyError(f"`{key}` is a reserved key and cannot be a config key")
        self._cfg_dict[key] = value

    def __delitem__(self, key: str) -> None:
        del self._cfg_dict[key]

    def __contains__(self, key: object) -> bool:
        return key in self._cfg_dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._cfg_dict)

    def __len__(self) -> int:
        return len(self._cfg_dict)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Config):
            return self._cfg_dict == other._cfg_dict
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Config (path: {self._filename}): {self._cfg_dict.to_dict()!r}"

    def __getstate__(self) -> tuple[ConfigDict, str | None, str]:
        return self._cfg_dict, self._filename, self._text

    def __setstate__(self, state: tuple[ConfigDict, str | None, str]) -> None:
        for name, value in zip(_OWN_ATTRIBUTES, state, strict=True):
            object.__setattr__(self, name, value)

    def __copy__(self) -> Config:
        return Config(self._cfg_dict.copy(), self._filename, self._text)

    def __deepcopy__(self, memo: dict[int, Any]) -> Config:
        return Config(copy.deepcopy(self._cfg_dict, memo), self._filename, self._text)
