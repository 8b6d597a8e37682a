"""``tools/`` use only the public API: ``import detkit``, its core names and its namespaces
(``detkit.config.setting``; no ``import detkit.engine.train`` / ``from detkit.models.x import``),
read from the scripts' syntax trees."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import detkit

REPO = Path(__file__).resolve().parents[2]
TOOLS = sorted((REPO / "tools").rglob("*.py"))
PUBLIC = set(detkit.__all__)


def private_uses(source: str) -> list[str]:
    """Each use of detkit in ``source`` that is not ``import detkit`` or a public name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.startswith("detkit.")]
            found += [
                f"import detkit as {a.asname}"
                for a in node.names
                if a.name == "detkit" and a.asname
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "detkit":
            if node.module != "detkit":
                found.append(f"from {node.module} import ...")
            else:
                found += [
                    f"from detkit import {a.name}" for a in node.names if a.name not in PUBLIC
                ]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "detkit"
            and node.attr not in PUBLIC
        ):
            found.append(f"detkit.{node.attr} (line {node.lineno})")
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "detkit"
            and node.value.attr in detkit._NAMESPACES
            and node.attr not in getattr(detkit, node.value.attr).__all__
        ):
            found.append(f"detkit.{node.value.attr}.{node.attr} (line {node.lineno})")
    return found


def test_the_check_catches_private_paths():
    source = (
        "import detkit\nfrom detkit.engine.train import train_detector\nimport detkit.models\n"
        "from detkit import Config, _CORE\nx = detkit._NAMESPACES\ny = detkit.Config\n"
        "z = detkit.engine.train\nw = detkit.config.setting\n"
    )
    assert private_uses(source) == [
        "from detkit.engine.train import ...",
        "import detkit.models",
        "from detkit import _CORE",
        "detkit._NAMESPACES (line 5)",
        "detkit.engine.train (line 7)",
    ]


@pytest.mark.parametrize("path", TOOLS, ids=[str(p.relative_to(REPO)) for p in TOOLS])
def test_tool_imports_only_the_public_api(path):
    assert private_uses(path.read_text(encoding="utf-8")) == [], (
        f"{path.relative_to(REPO)} reaches past detkit's public API"
    )
