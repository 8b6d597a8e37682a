"""The public API: a small core in ``detkit`` (MMDetection v2's ``mmdet.apis`` names and the
builders) with every other name in a namespace; lazily imported, the same objects whatever was
imported first, and mirrored in a ``TYPE_CHECKING`` block for editors and type checkers."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import detkit

REPO = Path(__file__).resolve().parents[1]
# mmdet.apis (v2.28) names detkit keeps at the top level
MMDET_APIS = {
    "init_detector",
    "inference_detector",
    "train_detector",
    "single_gpu_test",
    "multi_gpu_test",
    "set_random_seed",
    "init_dist",
    "get_root_logger",
}


def test_the_core_is_small_and_keeps_the_mmdet_names():
    assert len(detkit._CORE) <= 32
    assert MMDET_APIS | {"Config", "build_detector", "build_dataset"} <= set(detkit._CORE)
    assert set(detkit.__all__) == set(detkit._CORE) | set(detkit._NAMESPACES) | {"__version__"}


def test_type_checking_block_mirrors_the_table():
    tree = ast.parse((REPO / "detkit" / "__init__.py").read_text())
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
    )
    core: dict[str, str] = {}
    namespaces: set[str] = set()
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module is not None
        for alias in node.names:
            if node.module == "detkit":
                namespaces.add(alias.name)
            else:
                core[alias.name] = node.module
    assert namespaces == set(detkit._NAMESPACES)
    assert set(core) == set(detkit._CORE)
    for name, module in core.items():  # the same object as the lazy lookup gives
        assert getattr(importlib.import_module(module), name) is getattr(detkit, name), name


@pytest.mark.parametrize("namespace", sorted(detkit._NAMESPACES))
def test_namespaces_export_what_they_list(namespace):
    module = getattr(detkit, namespace)
    assert module is importlib.import_module(f"detkit.{namespace}")
    for name in getattr(module, "__all__", ()):
        assert getattr(module, name) is not None, f"detkit.{namespace}.{name}"


def test_a_name_outside_the_core_says_where_it_is():
    with pytest.raises(AttributeError, match=r"it is detkit\.experiments\.plot_curves"):
        detkit.plot_curves  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'$"):
        detkit.nothing_here  # noqa: B018


def run(code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr


def test_import_detkit_is_cheap_and_namespaces_load_on_use():
    run(
        "import sys, detkit\n"
        "assert 'torch' not in sys.modules and 'detkit.config' not in sys.modules\n"
        "detkit.analysis.plot_curve\n"
        "assert 'torch' not in sys.modules and 'detkit.models' not in sys.modules\n"
        "detkit.Config\n"
        "assert 'torch' not in sys.modules\n"
    )


def test_any_import_order_gives_the_same_objects():
    run(
        "import detkit.analysis.speed, detkit.engine.inference, detkit.viz.result\n"
        "import detkit\n"
        "from detkit import init_detector, show_result\n"
        "assert init_detector is detkit.engine.inference.init_detector\n"
        "assert show_result is detkit.viz.show_result\n"
        "assert detkit.analysis.benchmark is detkit.analysis.speed.benchmark\n"
        "import detkit.analysis as a; assert a.confusion_matrix is "
        "detkit.analysis.confusion_matrix\n"
    )
    run(
        "from detkit import Config, setup_testing\n"
        "import detkit.config, detkit.engine\n"
        "assert Config is detkit.config.Config and setup_testing is detkit.engine.setup_testing\n"
    )
