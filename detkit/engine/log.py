"""The ``detkit`` logger: console on every rank (errors only on ranks > 0) and, on rank 0, the
text log file ``<work_dir>/<timestamp>.log`` (mmdet ``get_root_logger``).

The console is stderr in a terminal (mmdet's text log) and stdout in a Jupyter kernel, where
JupyterLab would draw every stderr line in a red box that reads like an error. In a kernel, a
long block logged with ``extra={"collapse": title}`` (the environment, the config) shows as a
collapsed ``<details>`` element (the title and its line count as the summary); the
log file always has the whole text."""

from __future__ import annotations

import logging
import os
import sys

from detkit.engine.dist import get_dist_info

__all__ = ["NotebookConsole", "get_root_logger", "in_notebook"]

_FORMAT = "%(asctime)s - detkit - %(levelname)s - %(message)s"


def in_notebook() -> bool:
    """True inside a Jupyter kernel (notebook, papermill)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython()
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"


class NotebookConsole(logging.StreamHandler):
    """stdout console of a Jupyter kernel: records with a ``collapse`` title are displayed as
    a collapsed HTML block, the others printed as text."""

    def emit(self, record: logging.LogRecord) -> None:
        title = getattr(record, "collapse", None)
        if title is None:
            super().emit(record)
            return
        import html

        from IPython.display import HTML, display

        text = record.getMessage()
        lines = text.splitlines()
        display(
            HTML(
                f"<details><summary><code>{html.escape(title)}</code> ({len(lines)} lines, also "
                f"in the log file)</summary><pre>{html.escape(text)}</pre></details>"
            )
        )


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
        console = NotebookConsole(sys.stdout) if in_notebook() else logging.StreamHandler()
        console.setFormatter(formatter)
        console._detkit_console = True  # type: ignore[union-attr]
        logger.addHandler(console)
    if log_file is not None and rank == 0:
        known = {getattr(h, "baseFilename", None) for h in logger.handlers}
        if os.path.abspath(log_file) not in known:
            file_handler = logging.FileHandler(log_file, mode="a")
            file_handler.setFormatter(formatter)
            logger.addHandler(file_handler)
    return logger
