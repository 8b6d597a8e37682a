"""``tools/test.py`` fed bad input as a careless user would: a missing or corrupt checkpoint, an
unknown ``--eval`` metric, a misspelt ``--cfg-options`` key with ``--strict-cfg-options``. Each
exits non-zero with ``error:``/usage naming the culprit, before the model runs, and leaves no
``--out`` pickle (or its ``.tmp``) and no eval json behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_checkpoint_files import flip_inside_a_tensor

import detkit
from detkit.data.convert import convert_cityscapes
from detkit.data.synthetic import generate_cityscapes_sample

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "engine"))
from tiny_demo import DEMO_CONFIG, TINY_DEMO_OPTIONS  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """A 1-image val split, the 16-channel demo config pointing at it, a good checkpoint and
    one with bytes flipped inside a tensor."""
    root = tmp_path_factory.mktemp("test_cli_bad_inputs")
    generate_cityscapes_sample(root, train=0, val=1, test=0, size=(128, 64), seed=3)
    convert_cityscapes(root, root / "annotations", nproc=1, show_progress=False, splits=("val",))
    cfg = detkit.Config.fromfile(str(REPO / DEMO_CONFIG))
    cfg.merge_from_dict(
        {
            **TINY_DEMO_OPTIONS,
            "data.test.ann_file": str(root / "annotations/instancesonly_filtered_gtFine_val.json"),
            "data.test.img_prefix": str(root / "leftImg8bit/val") + "/",
        }
    )
    detkit.set_img_scale(cfg, (128, 64))
    config = root / "tiny.py"
    cfg.dump(str(config))
    good = root / "tiny.pth"
    detkit.save_checkpoint(detkit.build_detector(cfg.model), str(good))
    flipped = root / "flipped.pth"
    flipped.write_bytes(good.read_bytes())
    record = flip_inside_a_tensor(flipped)
    return dict(root=root, config=config, good=good, flipped=flipped, record=record)


def _test_cli(
    tiny: dict, checkpoint: Path, out_dir: Path, *options: str
) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "test.py"),
            str(tiny["config"]),
            str(checkpoint),
            "--out",
            str(out_dir / "results.pkl"),
            "--work-dir",
            str(out_dir / "work"),
            *options,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_test_cli_bad_inputs_exit_non_zero_naming_the_culprit(tiny, tmp_path):
    missing = tiny["root"] / "no_such.pth"
    cases = {
        "missing": (missing, ["--eval", "bbox"], [str(missing)]),
        "flipped": (
            tiny["flipped"],
            ["--eval", "bbox"],
            [str(tiny["flipped"]), f"record '{tiny['record']}' fails its CRC-32 check"],
        ),
        "metric": (
            tiny["good"],
            ["--eval", "bbx"],
            ["--eval: unknown metric 'bbx'", "did you mean 'bbox'?"],
        ),
        "strict": (
            tiny["good"],
            [
                "--eval",
                "bbox",
                "--strict-cfg-options",
                "--cfg-options",
                "model.test_cfg.rcnn.score_th=0.5",
            ],
            [
                "model.test_cfg.rcnn.score_th",
                "closest existing key: `model.test_cfg.rcnn.score_thr`",
            ],
        ),
    }
    for name, (checkpoint, options, words) in cases.items():
        out_dir = tmp_path / name
        run = _test_cli(tiny, checkpoint, out_dir, *options)
        assert run.returncode != 0, name
        assert "Traceback" not in run.stderr, (name, run.stderr)
        for word in words:
            assert word in run.stderr, (name, word, run.stderr)
        leftovers = [p.name for p in out_dir.rglob("*")] if out_dir.exists() else []
        assert not [p for p in leftovers if p.startswith("results.pkl") or p.startswith("eval_")], (
            name,
            leftovers,
        )
