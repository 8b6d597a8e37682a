"""Every registry finds detkit's built-ins on first use, in a fresh interpreter that imported
only ``detkit.registry``, and suggests close names (built-ins included) for a typo."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# registry name -> (build statement using `cfg`, a typo, the suggestion expected for it)
CASES = {
    "MODELS": ("dict(type='FPN', in_channels=[8, 16], out_channels=8, num_outs=2)", "FPNN", "FPN"),
    "DATASETS": (
        "dict(type='CocoDataset', ann_file=ANN, pipeline=[], test_mode=True)",
        "CocoDatset",
        "CocoDataset",
    ),
    "PIPELINES": ("dict(type='Rotate', level=5)", "Rotatee", "Rotate"),
    "BBOX_ASSIGNERS": (
        "dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3)",
        "MaxIouAssigner",
        "MaxIoUAssigner",
    ),
    "BBOX_SAMPLERS": (
        "dict(type='RandomSampler', num=8, pos_fraction=0.5)",
        "RandomSampeler",
        "RandomSampler",
    ),
    "BBOX_CODERS": ("dict(type='DeltaXYWHBBoxCoder')", "DeltaXYWHBoxCoder", "DeltaXYWHBBoxCoder"),
    "PRIOR_GENERATORS": (
        "dict(type='AnchorGenerator', strides=[4], ratios=[1.0], scales=[8])",
        "AnchorGenerater",
        "AnchorGenerator",
    ),
    "IOU_CALCULATORS": ("dict(type='BboxOverlaps2D')", "BboxOverlap2D", "BboxOverlaps2D"),
    "HOOKS": ("dict(type='CheckpointHook', interval=1)", "CheckpointHok", "CheckpointHook"),
    "OPTIMIZERS": (
        "dict(type='SGD', params=[torch.nn.Parameter(torch.zeros(1))], lr=0.1)",
        "SGDD",
        "SGD",
    ),
}

SCRIPT = """
import json, sys
from detkit.registry import {name}, build
before = sorted(m for m in sys.modules if m.startswith('detkit.') and m != 'detkit.registry')
import torch
ANN = sys.argv[1]
built = build({cfg}, {name})
try:
    build(dict(type={typo!r}), {name})
except KeyError as exc:
    message = str(exc)
else:
    message = None
print(json.dumps(dict(before=before, built=type(built).__name__, message=message)))
"""


@pytest.mark.parametrize("name", sorted(CASES))
def test_fresh_interpreter_builds_builtin_and_suggests(name, tmp_path):
    cfg, typo, suggestion = CASES[name]
    ann = tmp_path / "ann.json"
    ann.write_text(
        json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]})
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(name=name, cfg=cfg, typo=typo), str(ann)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # importing the registry pulls in nothing above it; the first lookup does
    assert result["before"] == []
    assert result["built"] == cfg.split("type='")[1].split("'")[0]
    assert result["message"] is not None and f"did you mean {suggestion}" in result["message"]
