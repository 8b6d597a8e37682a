"""OpenMP wait settings on a quiet and on a busy machine: detkit's Mask R-CNN R50-FPN train step
and inference (``bench/model.py``'s 1024x512 rows) under each setting, with 0 or more other
CPU-bound processes holding the cores.

Usage: python bench/threads.py [--busy 0,4] [--settings spin,passive,spincount=10000]
                               [--threads 2] [--rounds 2] [--steps 3] [--out FILE.json]

GNU OpenMP's threads (PyTorch's CPU pool) wait for the next parallel region before sleeping:
``spin`` is libgomp's default (300k spins, about 10 ms on the AMD EPYC here), ``passive``
(``OMP_WAIT_POLICY=PASSIVE``, with Intel OpenMP's ``KMP_BLOCKTIME=0``) sleeps at once,
``spincount=N`` (``GOMP_SPINCOUNT=N``) spins N times (10000: about 0.3 ms) and then sleeps.
OpenMP reads these when torch loads, so every setting runs in a fresh process with its
environment. The busy processes are pure-Python loops (``--busy N`` starts N of them for the
whole run); settings alternate round by round. Medians of wall-clock and of process CPU time
per step are reported, and each setting's time relative to ``spin``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def setting_env(setting: str) -> dict[str, str]:
    """The OpenMP environment of ``setting`` (``spin``, ``passive`` or ``spincount=N``)."""
    if setting == "spin":
        return {}
    if setting == "passive":
        return {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
    name, _, count = setting.partition("=")
    if name == "spincount" and count.isdigit():
        return {"GOMP_SPINCOUNT": count}
    raise ValueError(f"--settings: unknown setting {setting!r}; known: spin, passive, spincount=N")


def _child(threads: int, steps: int, out: str) -> None:
    """Times the train step and inference in this process; writes ``{"train_s", "infer_s",
    "train_cpu_s", "infer_cpu_s"}`` (medians over ``steps``) to ``out``."""
    import model as model_bench  # bench/model.py
    import torch

    torch.set_num_threads(threads)
    detector = model_bench._detkit_model("mask_rcnn_r50_fpn", {})
    img = torch.randn(
        1, 3, model_bench.H, model_bench.W, generator=torch.Generator().manual_seed(0)
    )
    train = model_bench._train_step(detector, img, True, model_bench._targets(8))

    def infer() -> None:
        detector.eval()
        with torch.no_grad():
            detector.predict(img, [model_bench._meta()], rescale=True)

    result: dict[str, float] = {}
    for name, fn in (("train", train), ("infer", infer)):
        fn()
        walls, cpus = [], []
        for _ in range(steps):
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        result[f"{name}_s"] = statistics.median(walls)
        result[f"{name}_cpu_s"] = statistics.median(cpus)
    Path(out).write_text(json.dumps(result))


def _run_setting(setting: str, threads: int, steps: int) -> dict[str, float]:
    """One fresh process under ``setting``'s environment; its timings."""
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARIABLES}
    env.update(setting_env(setting), OMP_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                out,
                "--threads",
                str(threads),
                "--steps",
                str(steps),
            ],
            check=True,
            env=env,
        )
        return json.loads(Path(out).read_text())


def _measure(busy: int, settings: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Every setting, ``args.rounds`` alternating rounds, with ``busy`` busy processes."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        samples: dict[str, list[dict[str, float]]] = {s: [] for s in settings}
        for _ in range(args.rounds):
            for setting in settings:
                samples[setting].append(_run_setting(setting, args.threads, args.steps))
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    return {
        setting: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for setting, runs in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--busy", default="0,4", help="comma-separated counts of busy processes")
    parser.add_argument("--settings", default="spin,passive,spincount=10000")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.threads, args.steps, args.child)
        return
    settings = args.settings.split(",")
    try:
        envs = {setting: setting_env(setting) for setting in settings}
    except ValueError as err:
        parser.error(str(err))
    import detkit

    print(f"CPU: {detkit.probe_cpu().summary()}")
    results: dict[str, Any] = {"threads": args.threads, "settings": envs, "by_busy": {}}
    print(
        f"{'busy':>4} {'setting':15} {'train s':>8} {'CPU s':>7} {'infer s':>8} {'CPU s':>7}"
        f" {'train / spin':>12} {'infer / spin':>12}"
    )
    for busy in (int(b) for b in args.busy.split(",")):
        table = _measure(busy, settings, args)
        results["by_busy"][str(busy)] = table
        base = table.get("spin")
        for setting, row in table.items():
            rel = (
                f" {row['train_s'] / base['train_s']:12.2f} "
                f"{row['infer_s'] / base['infer_s']:12.2f}"
                if base
                else ""
            )
            print(
                f"{busy:4d} {setting:15} {row['train_s']:8.2f} {row['train_cpu_s']:7.2f} "
                f"{row['infer_s']:8.2f} {row['infer_cpu_s']:7.2f}{rel}"
            )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
