"""Weights & Biases hooks: ``WandbLoggerHook`` (mmcv) and ``MMDetWandbHook`` (mmdet 2.28),
the JSON log's scalars as W&B history of one run.

    log_config = dict(interval=50, hooks=[
        dict(type='TextLoggerHook'),
        dict(type='MMDetWandbHook', init_kwargs=dict(project='augfpn'), log_checkpoint=True,
             num_eval_images=16)])

Needs ``pip install 'detkit[wandb]'``. ``WANDB_MODE=offline`` (or ``init_kwargs=dict(
mode='offline')``) writes the run under ``<dir>/wandb/offline-run-*`` for ``wandb sync``; the
run's ``dir`` defaults to the work dir. Without a mode and without an API key (``wandb login``
or ``WANDB_API_KEY``) the run is offline too, instead of waiting for a login prompt.
"""

from __future__ import annotations

import glob
import netrc
import os
from typing import Any

import numpy as np

from detkit.engine.hooks.evaluation import EvalHook
from detkit.engine.hooks.trackers.base import TrackerHook, import_extra
from detkit.registry import HOOKS

__all__ = ["MMDetWandbHook", "WandbLoggerHook"]


def _has_credentials() -> bool:
    """A W&B API key in the environment or in ``~/.netrc`` (where ``wandb login`` puts it)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


@HOOKS.register_module()
class WandbLoggerHook(TrackerHook):
    """Args:
    init_kwargs: ``wandb.init`` arguments (project, name, config, mode, dir, ...).
    commit: ``wandb.log(..., commit=commit)``.
    with_step: log with ``step`` = iterations done (else W&B counts the calls).
    log_artifact: at the end, log the work dir's files ending in ``out_suffix`` (logs,
        config) as an artifact.
    out_suffix: file endings for ``log_artifact``.
    interval, ignore_last, reset_flag, by_epoch: mmcv ``LoggerHook``'s.
    """

    def __init__(
        self,
        init_kwargs: dict[str, Any] | None = None,
        interval: int = 10,
        ignore_last: bool = False,
        reset_flag: bool = False,
        commit: bool = True,
        by_epoch: bool = True,
        with_step: bool = True,
        log_artifact: bool = True,
        out_suffix: str | tuple[str, ...] = (".log.json", ".log", ".py"),
    ) -> None:
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        self.wandb = import_extra("wandb", "wandb", type(self).__name__)
        self.init_kwargs = dict(init_kwargs or {})
        self.commit = commit
        self.with_step = with_step
        self.log_artifact = log_artifact
        self.out_suffix = (out_suffix,) if isinstance(out_suffix, str) else tuple(out_suffix)
        self.run: Any = None

    def open(self, runner: Any) -> None:
        kwargs = dict(self.init_kwargs)
        if runner.work_dir is not None:
            kwargs.setdefault("dir", runner.work_dir)
        if "mode" not in kwargs and "WANDB_MODE" not in os.environ and not _has_credentials():
            kwargs["mode"] = (
                "offline"  # wandb.init would wait for a login prompt (a papermill run hangs)
            )
            runner.logger.info(
                "W&B: no API key (wandb login / WANDB_API_KEY), logging offline; upload with wandb "
                "sync"
            )
        kwargs.setdefault("name", runner.meta.get("exp_name") or runner.timestamp)
        self.run = self.wandb.init(**kwargs)

    def write(self, scalars: dict[str, float], step: int, runner: Any) -> None:
        if self.with_step:
            self.run.log(scalars, step=step, commit=self.commit)
        else:
            self.run.log({**scalars, "global_step": step}, commit=self.commit)

    def close(self, runner: Any) -> None:
        if self.log_artifact and runner.work_dir is not None:
            files = [
                path
                for path in sorted(glob.glob(os.path.join(glob.escape(runner.work_dir), "*")))
                if path.endswith(self.out_suffix) and os.path.isfile(path)
            ]
            if files:
                artifact = self.wandb.Artifact(name=f"logs-{self.run.id}", type="logs")
                for path in files:
                    artifact.add_file(path)
                self.run.log_artifact(artifact)
        self.run.finish()
        self.run = None


@HOOKS.register_module()
class MMDetWandbHook(WandbLoggerHook):
    """``WandbLoggerHook`` plus mmdet's extras. Args:
    log_checkpoint: log each checkpoint the ``CheckpointHook`` writes (``epoch_N.pth`` /
        ``iter_N.pth``) as a ``model`` artifact (aliases ``epoch_N``/``iter_N``, ``latest``).
    log_checkpoint_metadata: attach the latest metrics to the checkpoint artifact.
    num_eval_images: after each evaluation, log a table of the first N val images with the
        predicted boxes (score >= ``bbox_score_thr``) overlaid; 0 disables it.
    bbox_score_thr: score threshold of the drawn boxes.
    init_kwargs, interval: as ``WandbLoggerHook``.
    """

    def __init__(
        self,
        init_kwargs: dict[str, Any] | None = None,
        interval: int = 50,
        log_checkpoint: bool = False,
        log_checkpoint_metadata: bool = False,
        num_eval_images: int = 100,
        bbox_score_thr: float = 0.3,
        **kwargs: Any,
    ) -> None:
        super().__init__(init_kwargs, interval, **kwargs)
        self.log_checkpoint = log_checkpoint
        self.log_checkpoint_metadata = log_checkpoint_metadata
        self.num_eval_images = num_eval_images
        self.bbox_score_thr = bbox_score_thr
        self._logged_checkpoints: set[str] = set()

    def _eval_hook(self, runner: Any) -> EvalHook | None:
        return next((hook for hook in runner.hooks if isinstance(hook, EvalHook)), None)

    def _log_checkpoints(self, runner: Any) -> None:
        for path in sorted(
            glob.glob(os.path.join(glob.escape(runner.work_dir), "*_*.pth")), key=os.path.getmtime
        ):
            name = os.path.basename(path)
            if name in self._logged_checkpoints or not name.startswith(("epoch_", "iter_")):
                continue
            self._logged_checkpoints.add(name)
            eval_hook = self._eval_hook(runner)
            metadata = (
                dict(eval_hook.last_metrics) if self.log_checkpoint_metadata and eval_hook else None
            )
            artifact = self.wandb.Artifact(
                name=f"run_{self.run.id}_model", type="model", metadata=metadata
            )
            artifact.add_file(path)
            self.run.log_artifact(artifact, aliases=[name[: -len(".pth")], "latest"])

    def _log_eval_images(self, runner: Any, step: int) -> None:
        eval_hook = self._eval_hook(runner)
        if eval_hook is None or eval_hook.last_results is None:
            return
        dataset = eval_hook.dataloader.dataset
        class_labels = {i: name for i, name in enumerate(dataset.CLASSES)}
        table = self.wandb.Table(columns=["image_name", "prediction"])
        for index, result in enumerate(eval_hook.last_results[: self.num_eval_images]):
            info = dataset.data_infos[index]
            bbox_results = result[0] if isinstance(result, tuple) else result
            boxes = [
                {
                    "position": {
                        "minX": float(x1),
                        "minY": float(y1),
                        "maxX": float(x2),
                        "maxY": float(y2),
                    },
                    "domain": "pixel",
                    "class_id": label,
                    "scores": {"score": float(score)},
                    "box_caption": f"{class_labels[label]} {score:.2f}",
                }
                for label, boxes_c in enumerate(bbox_results)
                for x1, y1, x2, y2, score in np.asarray(boxes_c).reshape(-1, 5)
                if score >= self.bbox_score_thr
            ]
            image = self.wandb.Image(
                os.path.join(dataset.img_prefix or "", info["filename"]),
                boxes={"predictions": {"box_data": boxes, "class_labels": class_labels}},
            )
            table.add_data(info["filename"], image)
        self.run.log({"val/eval_images": table}, step=step, commit=False)

    def _before_metrics(self, runner: Any, step: int) -> None:
        """Checkpoints and eval images, before the metrics commit the step's row."""
        if not self.active:
            return
        if self.log_checkpoint and runner.work_dir is not None:
            self._log_checkpoints(runner)
        if self.num_eval_images > 0 and self.fresh_metrics(runner, step):
            self._log_eval_images(runner, step)

    def after_train_iter(self, runner: Any) -> None:
        if not self.by_epoch:
            self._before_metrics(runner, runner.iter + 1)
        super().after_train_iter(runner)

    def after_train_epoch(self, runner: Any) -> None:
        self._before_metrics(runner, runner.iter + 1)
        super().after_train_epoch(runner)
