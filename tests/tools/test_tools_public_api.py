"""``tools/`` use only the public API: ``import detkit`` and the names of ``detkit._PUBLIC_API``
(no ``detkit.engine.x`` / ``detkit.models.x`` paths), read from the scripts' syntax trees."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import detkit

REPO = Path(__file__).resolve().parents[2]
TOOLS = sorted((REPO / "tools").rglob("*.py"))
PUBLIC = set(detkit._PUBLIC_API) | {"__version__"}


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
    return found


def test_the_check_catches_private_paths():
    source = (
        "import detkit\nfrom detkit.engine.train import train_detector\nimport detkit.models\n"
        "from detkit import Config, _PUBLIC_API\nx = detkit.engine\ny = detkit.Config\n"
    )
    assert private_uses(source) == [
        "from detkit.engine.train import ...",
        "import detkit.models",
        "from detkit import _PUBLIC_API",
        "detkit.engine (line 5)",
    ]


@pytest.mark.parametrize("path", TOOLS, ids=[str(p.relative_to(REPO)) for p in TOOLS])
def test_tool_imports_only_the_public_api(path):
    assert private_uses(path.read_text(encoding="utf-8")) == [], (
        f"{path.relative_to(REPO)} reaches past detkit's public API"
    )


def test_every_public_name_resolves():
    for name in sorted(detkit._PUBLIC_API):
        assert getattr(detkit, name) is not None, name
