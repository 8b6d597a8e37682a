"""Every analysis function is a ``detkit`` public name, whatever was imported first."""

from __future__ import annotations

import subprocess
import sys

from analysis_helpers import REPO

import detkit
import detkit.analysis


def test_every_analysis_name_is_public():
    for name in detkit.analysis.__all__:
        assert getattr(detkit, name) is getattr(detkit.analysis, name)
        assert name in dir(detkit)


def test_import_order_does_not_change_the_names():
    code = (
        "import detkit.analysis.speed, detkit.analysis.saved_results, detkit.analysis.confusion\n"
        "import detkit, sys\n"
        "assert callable(detkit.benchmark) and callable(detkit.eval_metric), detkit.benchmark\n"
        "assert callable(detkit.confusion_matrix)\n"
        "import detkit.analysis as a; assert a.benchmark is detkit.benchmark\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr
    light = subprocess.run(
        [
            sys.executable,
            "-c",
            "import detkit, sys; detkit.plot_curve; "
            "assert 'torch' not in sys.modules and 'detkit.models' not in sys.modules",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO)},
    )
    assert light.returncode == 0, light.stderr
