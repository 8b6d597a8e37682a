"""The dependency rules of docs/architecture.md ("The layers"), checked on every import
statement in detkit/ (module level and inside functions)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "detkit"

# top-level package -> the detkit packages it may import (besides itself)
FOUNDATION = {"config", "registry", "image_io", "io"}
ALLOWED: dict[str, set[str]] = {
    "io": set(),
    "config": {"io"},
    "registry": {"config"},
    "image_io": set(),
    "ops": {"io"},  # the tuning cache is written by the one atomic writer
    "structures": FOUNDATION,
    "viz": FOUNDATION | {"structures"},  # viz draws structures
    "evaluation": FOUNDATION | {"structures", "viz"},
    "checkpoint": FOUNDATION,
    "data": FOUNDATION | {"structures", "viz", "evaluation", "checkpoint"},
    "models": FOUNDATION | {"structures", "viz", "ops", "checkpoint"},
}


def _imports(path: Path, module_level_only: bool = False) -> set[str]:
    """The top-level detkit packages ``path`` imports (only by its module-level statements
    when ``module_level_only``)."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if module_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found |= {n.split(".")[1] for n in names if n.startswith("detkit.")}
    return found


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) > 1 or parts[0] not in ("__init__.py",):
            out.append((parts[0].removesuffix(".py"), path))
    return out


def test_every_layer_of_the_rules_exists():
    assert set(ALLOWED) <= {package for package, _ in _modules()}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_module_imports_a_higher_layer(package):
    bad = []
    for owner, path in _modules():
        if owner != package:
            continue
        # registries find their built-ins on first use: inside functions they may load any
        # package, at module level only the allowed ones
        imported = _imports(path, module_level_only=package == "registry")
        relative = path.relative_to(PACKAGE).as_posix()
        extra = imported - ALLOWED[package] - {package}
        if extra:
            bad.append(f"{relative} imports detkit.{sorted(extra)}")
    assert bad == []


def test_data_and_models_do_not_import_each_other_or_the_engine():
    for owner, path in _modules():
        if owner in ("data", "models"):
            other = "models" if owner == "data" else "data"
            assert not _imports(path) & {other, "engine"}, path
