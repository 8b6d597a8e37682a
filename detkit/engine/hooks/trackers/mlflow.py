"""``MlflowLoggerHook`` (mmcv): the JSON log's scalars as MLflow metrics of one run.

    log_config = dict(interval=50, hooks=[dict(type='TextLoggerHook'),
                                          dict(type='MlflowLoggerHook', exp_name='augfpn')])

Needs ``pip install 'detkit[mlflow]'``. The tracking store is ``tracking_uri``, else the
``MLFLOW_TRACKING_URI`` environment variable, else a local SQLite store in the work dir
(``sqlite:///<work_dir>/mlflow.db``, artifacts in ``<work_dir>/mlruns``; MLflow 3 no longer
accepts a plain ``./mlruns`` folder as a tracking store); browse it with
``mlflow ui --backend-store-uri sqlite:///<work_dir>/mlflow.db``. MLflow's usage telemetry
is switched off (``MLFLOW_DISABLE_TELEMETRY=true``) unless that variable is already set.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from detkit.checkpoint import save_checkpoint
from detkit.engine.hooks.trackers.base import TrackerHook, import_extra
from detkit.registry import HOOKS

__all__ = ["MlflowLoggerHook"]


@HOOKS.register_module()
class MlflowLoggerHook(TrackerHook):
    """Args:
    exp_name: MLflow experiment (created if missing); default the run meta's
        ``exp_name`` (the config file name) or the work dir's name.
    tags: run tags ``{name: value}``.
    log_model: at the end, log the final weights as the artifact
        ``models/latest.pth`` (MMDetection's checkpoint layout, loadable by
        ``load_checkpoint``; mmcv logged a pickled module instead).
    tracking_uri: the MLflow store (see the module docstring for the default).
    interval, ignore_last, reset_flag, by_epoch: mmcv ``LoggerHook``'s.
    """

    def __init__(
        self,
        exp_name: str | None = None,
        tags: dict[str, Any] | None = None,
        log_model: bool = True,
        tracking_uri: str | None = None,
        interval: int = 10,
        ignore_last: bool = False,
        reset_flag: bool = False,
        by_epoch: bool = True,
    ) -> None:
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        # MLflow 3 sends usage telemetry over the network unless told not to; detkit runs offline
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        self.mlflow = import_extra("mlflow", "mlflow", type(self).__name__)
        self.exp_name = exp_name
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.log_model = log_model
        self.tracking_uri = tracking_uri
        self.client: Any = None
        self.run_id: str | None = None

    def _store(self, runner: Any) -> tuple[str, str | None]:
        """(tracking URI, artifact location for a new experiment)."""
        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if uri is not None:
            return uri, None
        if runner.work_dir is None:
            raise ValueError(
                "MlflowLoggerHook needs tracking_uri (or MLFLOW_TRACKING_URI) when the runner has "
                "no work_dir"
            )
        return f"sqlite:///{os.path.join(runner.work_dir, 'mlflow.db')}", Path(
            runner.work_dir, "mlruns"
        ).as_uri()

    def open(self, runner: Any) -> None:
        uri, artifacts = self._store(runner)
        self.tracking_uri = uri
        self.client = self.mlflow.MlflowClient(uri)
        name = (
            self.exp_name
            or runner.meta.get("exp_name")
            or os.path.basename(runner.work_dir or "detkit")
        )
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = (
            experiment.experiment_id
            if experiment
            else self.client.create_experiment(name, artifacts)
        )
        run = self.client.create_run(experiment_id, tags=self.tags, run_name=runner.timestamp)
        self.run_id = run.info.run_id

    def write(self, scalars: dict[str, float], step: int, runner: Any) -> None:
        now = int(time.time() * 1000)
        metrics = [self.mlflow.entities.Metric(k, v, now, step) for k, v in scalars.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def close(self, runner: Any) -> None:
        if self.log_model:
            with tempfile.TemporaryDirectory() as folder:
                path = os.path.join(folder, "latest.pth")
                save_checkpoint(runner.model, path, meta=dict(runner.meta))
                self.client.log_artifact(self.run_id, path, artifact_path="models")
        self.client.set_terminated(self.run_id)
