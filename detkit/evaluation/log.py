"""Where evaluation text goes: stdout, a :class:`logging.Logger`, or nowhere.

MMDetection's ``print_log(msg, logger)`` convention: ``logger=None`` prints, ``'silent'``
drops the message, a ``logging.Logger`` (or a logger name) receives it at INFO level.
"""

from __future__ import annotations

import logging

LoggerLike = logging.Logger | str | None


def print_log(message: str, logger: LoggerLike = None, level: int = logging.INFO) -> None:
    """Send ``message`` to ``logger`` (see the module docstring for the accepted values)."""
    if logger is None:
        print(message, flush=True)
    elif logger == "silent":
        return
    elif isinstance(logger, logging.Logger):
        logger.log(level, message)
    elif isinstance(logger, str):
        logging.getLogger(logger).log(level, message)
    else:
        raise TypeError(
            f"logger must be None, 'silent', a logger name or a logging.Logger, got {logger!r}"
        )
