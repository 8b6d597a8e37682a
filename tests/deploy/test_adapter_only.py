"""``detkit.deploy`` is an adapter over the eager inference path: it defines no NMS, no box
decoding, no RPN and no stage loop of its own (a second copy of inference is a defect, issue
26), and which modules export is what they declare (``exportable``), not a list of names."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import torch.nn as nn

import detkit
from detkit.deploy.graph import DeployableDetector, check_exportable
from detkit.models.roi_heads import CascadeRoIHead
from detkit.registry import MODELS

DEPLOY = Path(detkit.__file__).parent / "deploy"
# what inference computes: defining or calling any of these in deploy/ restates it
FORBIDDEN = {
    "nms",
    "batched_nms",
    "multiclass_nms",
    "decode",
    "delta2bbox",
    "bbox_coder",
    "grid_priors",
    "prior_generator",
    "softmax",
    "sigmoid",
    "topk",
    "argsort",
    "regress",
    "stage_mask_probs",
    "_forward_box",
    "torchvision",
}


def _identifiers(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(alias.name.split(".")[0] for alias in node.names)
            if isinstance(node, ast.ImportFrom) and node.module:
                names.update(node.module.split("."))
    return names


@pytest.mark.parametrize("path", sorted(DEPLOY.glob("*.py")), ids=lambda p: p.name)
def test_deploy_restates_no_inference_step(path):
    used = _identifiers(ast.parse(path.read_text())) & FORBIDDEN
    assert not used, f"{path.name} restates inference ({sorted(used)}); use the eager path"
    assert not any("nms" in name.lower() for name in _identifiers(ast.parse(path.read_text())))


def test_graph_is_the_eager_detect_without_a_loop():
    source = inspect.getsource(DeployableDetector.forward)
    tree = ast.parse(source.strip())
    assert not any(isinstance(n, (ast.For, ast.While)) for n in ast.walk(tree))
    assert "self.model.detect(" in source


def test_exportable_is_declared_by_modules(mask_rcnn):
    _, model = mask_rcnn

    @MODELS.register_module(force=True)
    class UserCascadeHead(CascadeRoIHead):
        """A user's head: inherits the built-in head's declaration."""

    class Opaque(nn.Module):
        def forward(self, x):
            return x

    check_exportable(model)
    assert UserCascadeHead.exportable
    head = model.roi_head.bbox_roi_extractor
    model.roi_head.bbox_roi_extractor = Opaque()
    try:
        with pytest.raises(TypeError, match=r"bbox_roi_extractor Opaque \(.*exportable"):
            check_exportable(model)
    finally:
        model.roi_head.bbox_roi_extractor = head
