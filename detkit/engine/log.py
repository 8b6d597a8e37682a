"""The ``detkit`` logger: console on every rank (errors only on ranks > 0) and, on rank 0, the
text log file ``<work_dir>/<timestamp>.log`` (mmdet ``get_root_logger``)."""

from __future__ import annotations

import logging
import os

from detkit.engine.dist import get_dist_info

__all__ = ["get_root_logger"]

_FORMAT = "%(asctime)s - detkit - %(levelname)s - %(message)s"


def get_root_logger(log_file: str | None = None, log_level: int | str = "INFO") -> logging.Logger:
    """The ``detkit`` logger with a console handler (added once) and, on rank 0, a file
    handler for ``log_file`` (added once per file). ``detkit.checkpoint`` and the other
    ``detkit.*`` loggers propagate to it."""
    logger = logging.getLogger("detkit")
    rank, _ = get_dist_info()
    logger.setLevel(log_level if rank == 0 else logging.ERROR)
    logger.propagate = False
    formatter = logging.Formatter(_FORMAT)
    if not any(getattr(h, "_detkit_console", False) for h in logger.handlers):
        console = logging.StreamHandler()
        console.setFormatter(formatter)
        console._detkit_console = True  # type: ignore[attr-defined]
        logger.addHandler(console)
    if log_file is not None and rank == 0:
        known = {getattr(h, "baseFilename", None) for h in logger.handlers}
        if os.path.abspath(log_file) not in known:
            file_handler = logging.FileHandler(log_file, mode="a")
            file_handler.setFormatter(formatter)
            logger.addHandler(file_handler)
    return logger
