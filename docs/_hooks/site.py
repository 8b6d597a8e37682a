"""MkDocs hook of the detkit site (``mkdocs.yml``: ``hooks``).

- The API reference is generated at build time from the public names: one page for the core
  (``detkit.__all__``) and one per namespace (``detkit.<namespace>.__all__``), each name
  rendered by mkdocstrings from its docstring, under its defining module. A name added to a
  namespace appears without editing the docs; ``mkdocs build --strict`` fails on a docstring
  reference it cannot resolve.
- Every ``docs/*.md`` page is in the navigation: a page that ``mkdocs.yml``'s ``nav`` does not
  list is appended under "More topics" (move it to its section in ``nav`` to place it).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

API_DIR = "api"
API_SECTION = "API reference"
MORE_SECTION = "More topics"


def _namespaces() -> list[str]:
    """``detkit`` (the core) and its namespaces, as ``detkit.__init__`` lists them."""
    detkit = importlib.import_module("detkit")
    return ["detkit"] + [f"detkit.{name}" for name in detkit._NAMESPACES]


def _identifier(namespace: str, name: str) -> str:
    """The path mkdocstrings renders ``namespace.name`` from: its defining module's."""
    obj = getattr(importlib.import_module(namespace), name)
    if inspect.ismodule(obj):
        return obj.__name__
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and module.startswith("detkit"):
        if "<" not in qualname:
            return f"{module}.{qualname}"
    return f"{namespace}.{name}"


def _public_names(namespace: str) -> list[str]:
    """``namespace.__all__`` without ``__version__``."""
    return [n for n in importlib.import_module(namespace).__all__ if n != "__version__"]


def _homes() -> dict[str, str]:
    """Object path -> the one namespace page that renders it: the namespace its defining module
    lies in when that one lists it, else the first namespace listing it. The core page renders
    nothing itself (its names are documented in their namespaces)."""
    listed: dict[str, list[str]] = {}
    for namespace in _namespaces()[1:]:
        for name in _public_names(namespace):
            listed.setdefault(_identifier(namespace, name), []).append(namespace)
    return {
        identifier: next((ns for ns in spaces if identifier.startswith(ns + ".")), spaces[0])
        for identifier, spaces in listed.items()
    }


def _api_page(namespace: str, homes: dict[str, str]) -> str:
    """The Markdown of one API page: the namespace's docstring, then each public name
    (rendered on its home page, a link elsewhere)."""
    module = importlib.import_module(namespace)
    title = "detkit: the core" if namespace == "detkit" else namespace
    lines = [
        f"# {title}",
        "",
        f"::: {namespace}",
        "    options:",
        "      members: false",
        "      show_root_heading: false",
        "",
    ]
    links: list[str] = []
    for name in _public_names(namespace):
        identifier = _identifier(namespace, name)
        if homes.get(identifier) != namespace:
            links.append(f"- [`{namespace}.{name}`][{identifier}]")
            continue
        lines.append(f"::: {identifier}")
        if inspect.ismodule(getattr(module, name)):
            lines += ["    options:", "      members: false", "      show_root_full_path: true"]
        lines.append("")
    if links:
        heading = "Names" if namespace == "detkit" else "Also here (documented elsewhere)"
        lines += [f"## {heading}", "", *links, ""]
    return "\n".join(lines)


def api_uri(namespace: str) -> str:
    """The generated page of ``namespace`` (``api/detkit.structures.md``)."""
    return f"{API_DIR}/{namespace}.md"


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Point the API section at the generated pages and append unlisted topic pages."""
    nav: list[Any] = config.nav or []
    listed = set(_flatten(nav))
    api = [{ns if ns != "detkit" else "detkit (core)": api_uri(ns)} for ns in _namespaces()]
    for entry in nav:
        if isinstance(entry, dict) and API_SECTION in entry:
            entry[API_SECTION] = api
            break
    else:
        nav.append({API_SECTION: api})
    topics = sorted(path.name for path in Path(config.docs_dir).glob("*.md"))
    missing = [topic for topic in topics if topic not in listed]
    if missing:
        nav.append({MORE_SECTION: missing})
    config.nav = nav
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated API pages."""
    homes = _homes()
    for namespace in _namespaces():
        content = _api_page(namespace, homes)
        files.append(File.generated(config, api_uri(namespace), content=content))
    return files


def _flatten(nav: list[Any]) -> list[str]:
    """The page paths of a ``nav`` list (sections flattened)."""
    out: list[str] = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        out += _flatten(value) if isinstance(value, list) else [str(value)]
    return out
