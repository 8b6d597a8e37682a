"""Multi-process (DDP) training from a notebook cell or a script: :func:`launch`.

    result = detkit.launch(cfg, nproc=2, seed=0)   # gloo on CPU, nccl on GPUs

``torch.multiprocessing`` spawns ``nproc`` workers running :func:`_worker` (a module-level,
picklable entry point; the config travels pickled, no script is written). Each worker does
what ``tools/train.py --launcher pytorch`` does under ``tools/dist_train.sh`` (the same
``init_dist``, ``setup_training`` and seed), so both give the same numbers. Rank 0's progress
bar, per-epoch table, live loss plot and log lines are sent to this process and shown here.

- Stop (the notebook's stop button, Ctrl-C): every rank stops after the same iteration, rank 0
  writes ``iter_<n>.pth`` (an exact resume point, ``latest.pth`` points at it) and the call
  returns; ``launch(..., auto_resume=True)`` or ``tools/train.py --auto-resume`` continue.
- Failure: an exception on any rank is raised here as :class:`LaunchError` with the rank's
  traceback; a rank that dies (``kill -9``) ends the others. With ``max_restarts`` (as
  torchrun's ``--max-restarts``) every rank is started again and resumes from the last
  checkpoint.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import queue as queue_module
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.multiprocessing.spawn import ProcessException

from detkit.engine.hooks.base import Hook
from detkit.engine.hooks.progress_view import ProgressView, set_view_factory

__all__ = ["LaunchError", "LaunchResult", "TrainingInterrupted", "launch"]

_POLL_S = 0.1


class LaunchError(RuntimeError):
    """A worker of :func:`launch` failed (its traceback is in the message)."""


class TrainingInterrupted(Exception):
    """Raised on every rank once all agreed to stop; carries the checkpoint written."""

    def __init__(self, checkpoint: str | None) -> None:
        super().__init__(checkpoint)
        self.checkpoint = checkpoint


@dataclass
class LaunchResult:
    """What a :func:`launch` ended with.

    work_dir: where logs and checkpoints are. checkpoint: ``latest.pth`` there (None if none).
    epoch, iter: training progress at the end. stopped: ended by a stop request.
    stop_reason: why training ended early (early stopping, stop request) or None.
    best_checkpoints: ``{key: {path, score, epoch}}`` of ``save_best``. restarts: restarts used.
    """

    work_dir: str
    checkpoint: str | None = None
    epoch: int = 0
    iter: int = 0
    stopped: bool = False
    stop_reason: str | None = None
    best_checkpoints: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0


class _StopOnRequestHook(Hook):
    """After each training iteration every rank learns (one ``all_reduce``) whether the parent
    asked to stop; then rank 0 saves an exact-resume checkpoint and every rank raises
    :class:`TrainingInterrupted`."""

    priority = "LOWEST"  # after the checkpoint hook and the logger

    def __init__(self, event: Any) -> None:
        self.event = event

    def after_train_iter(self, runner: Any) -> None:
        flag = torch.tensor([1.0 if self.event.is_set() else 0.0], device=runner._device())
        if dist.is_initialized():
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if flag.item() == 0:
            return
        from detkit.engine.dist import all_gather

        states = all_gather(runner.rng_snapshot())
        path = None
        if runner.rank == 0:
            name = f"iter_{runner.iter + 1}.pth"
            path = runner.save_checkpoint(runner.work_dir, name, rank_rng_states=states)
            runner.logger.info(f"stopped on request after iteration {runner.iter + 1}: {path}")
        raise TrainingInterrupted(path)


class _QueueView:
    """A progress view (see :class:`~detkit.engine.hooks.progress_view.ProgressView`) that sends
    each call to the launching process."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel

    def __getattr__(self, method: str) -> Any:
        if method not in ("start", "epoch_start", "step", "row", "curves", "finish"):
            raise AttributeError(method)
        return lambda *args: self.channel.put(("view", method, args))


class _QueueLogHandler(logging.Handler):
    """The workers' console: formatted log lines go to the launching process."""

    _detkit_console = True  # get_root_logger adds no stderr console beside it

    def __init__(self, channel: Any) -> None:
        super().__init__()
        self.channel = channel
        self.setFormatter(logging.Formatter("%(asctime)s - detkit - %(levelname)s - %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.channel.put(("log", self.format(record)))


def _worker(
    rank: int,
    world_size: int,
    port: int,
    backend: str,
    cfg: Any,
    seed: int | None,
    validate: bool,
    channel: Any,
    stop: Any,
) -> None:
    """One rank: torchrun's environment, then what ``tools/train.py --launcher pytorch`` runs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns Ctrl-C into a stop request
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    logger = logging.getLogger("detkit")
    logger.addHandler(_QueueLogHandler(channel))
    if rank == 0:
        set_view_factory(lambda: _QueueView(channel))
    from detkit.config import import_modules_from_strings
    from detkit.config.runtime import compat_runner_args
    from detkit.engine.dist import init_dist
    from detkit.engine.training_setup import setup_training

    custom = cfg.get("custom_imports") or {}  # what Config.fromfile imported in the parent
    imports, allow_failed = custom.get("imports"), custom.get("allow_failed_imports", False)
    import_modules_from_strings(imports, allow_failed, getattr(cfg, "filename", None))
    init_dist("pytorch", backend=backend)
    try:
        setup = setup_training(compat_runner_args(cfg), distributed=True, seed=seed)
        runner = setup.train(validate=validate, extra_hooks=[_StopOnRequestHook(stop)])
        summary: dict[str, Any] = dict(
            epoch=runner.epoch, iter=runner.iter, stop_reason=runner.stop_reason
        )
        summary["best_checkpoints"] = runner.best_checkpoints
    except TrainingInterrupted as stopped:
        summary = dict(stopped=True, checkpoint=stopped.checkpoint)
    if rank == 0:
        channel.put(("done", summary))
    dist.barrier()
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prepare(config: Any, work_dir: str | None, auto_resume: bool, progress: bool) -> Any:
    from detkit.config import Config

    from_file = isinstance(config, (str, os.PathLike))
    cfg = Config.fromfile(config) if from_file else copy.deepcopy(config)
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
    if not cfg.get("work_dir"):
        raise KeyError("launch: set work_dir (or cfg.work_dir): where logs and checkpoints go")
    cfg.auto_resume = auto_resume or bool(cfg.get("auto_resume"))
    hooks = cfg.log_config.hooks if "log_config" in cfg else []
    if progress and not any(h.get("type") == "ProgressBarHook" for h in hooks):
        cfg.log_config = dict(cfg.get("log_config") or dict(interval=50, hooks=[]))
        cfg.log_config["hooks"] = [*hooks, dict(type="ProgressBarHook")]
    return cfg


def _pump(channel: Any, view: ProgressView | None, found: dict[str, Any]) -> None:
    """Show what the workers sent so far."""
    while True:
        try:
            kind, *payload = channel.get_nowait()
        except queue_module.Empty:
            return
        if kind == "view" and view is not None:
            method, args = payload
            getattr(view, method)(*args)
        elif kind == "log":
            print(payload[0], flush=True)
        elif kind == "done":
            found.update(payload[0])


@contextlib.contextmanager
def _torchrun_threads(nproc: int) -> Iterator[None]:
    """The workers' environment gets torchrun's default of one OpenMP thread per process when
    ``OMP_NUM_THREADS`` is unset and ``nproc > 1`` (so a run equals ``tools/dist_train.sh``'s
    to the bit: a thread count changes kernels' reduction order); the parent's is restored."""
    if nproc <= 1 or "OMP_NUM_THREADS" in os.environ:
        yield
        return
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        os.environ.pop("OMP_NUM_THREADS", None)


def _run_once(
    cfg: Any, nproc: int, backend: str, seed: int | None, validate: bool, progress: bool
) -> dict[str, Any]:
    """Start the workers, show their output until they end; their summary, or raise."""
    ctx = mp.get_context("spawn")
    channel, stop = ctx.Queue(), ctx.Event()
    view = ProgressView() if progress else None
    args = (nproc, _free_port(), backend, cfg, seed, validate, channel, stop)
    with _torchrun_threads(nproc):
        processes = mp.start_processes(
            _worker, args=args, nprocs=nproc, join=False, start_method="spawn"
        )
    found: dict[str, Any] = {}
    try:
        while True:
            try:
                _pump(channel, view, found)
                if processes.join(timeout=_POLL_S):
                    break
            except KeyboardInterrupt:
                if stop.is_set():  # a second interrupt: end them now
                    for process in processes.processes:
                        process.kill()
                    raise
                print("stopping every rank after this iteration (a checkpoint is written)...")
                stop.set()
    finally:
        _pump(channel, view, found)
    return found


def launch(
    config: Any,
    nproc: int = 2,
    *,
    work_dir: str | None = None,
    seed: int | None = 0,
    validate: bool = True,
    auto_resume: bool = False,
    max_restarts: int = 0,
    backend: str | None = None,
    progress: bool = True,
) -> LaunchResult:
    """Train ``config`` with DDP in ``nproc`` processes on this machine and show rank 0's
    progress here (tools/dist_train.sh's run: the same seed gives the same weights).

    Args:
        config: a config file or a :class:`~detkit.config.Config` (copied, not changed).
        nproc: worker processes (one per GPU with CUDA).
        work_dir: overrides ``cfg.work_dir``.
        seed: the training seed (``tools/dist_train.sh`` uses 0).
        validate: evaluate as ``cfg.evaluation`` says.
        auto_resume: start from the newest checkpoint in ``work_dir``.
        max_restarts: after a rank fails, start every rank again this many times at most,
            resuming from the last checkpoint (torchrun's ``--max-restarts``).
        backend: ``'nccl'`` with CUDA, else ``'gloo'`` (default).
        progress: add a ``ProgressBarHook`` if the config has none.

    Raises:
        LaunchError: a rank failed (and no restart was left); its traceback in the message.
    """
    if nproc < 1:
        raise ValueError(f"launch: nproc must be >= 1, got {nproc}")
    cfg = _prepare(config, work_dir, auto_resume, progress)
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    restarts = 0
    while True:
        try:
            found = _run_once(cfg, nproc, backend, seed, validate, progress)
            break
        except ProcessException as error:
            if restarts >= max_restarts:
                raise LaunchError(f"launch: rank {error.error_index} failed\n{error}") from None
            restarts += 1
            print(
                f"rank {error.error_index} failed ({str(error).splitlines()[0]}); restarting "
                f"every rank from the last checkpoint (restart {restarts} of {max_restarts})",
                flush=True,
            )
            cfg.auto_resume = True
    latest = os.path.join(cfg.work_dir, "latest.pth")
    result = LaunchResult(
        work_dir=cfg.work_dir,
        checkpoint=latest if os.path.exists(latest) else None,
        epoch=found.get("epoch", 0),
        iter=found.get("iter", 0),
        stopped=bool(found.get("stopped")),
        stop_reason=found.get("stop_reason"),
        best_checkpoints=found.get("best_checkpoints", {}),
        restarts=restarts,
    )
    if result.stopped:
        print(
            f"stopped; {found.get('checkpoint')} is a resume point "
            "(launch(..., auto_resume=True) or tools/train.py --auto-resume continue)"
        )
    return result
