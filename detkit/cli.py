"""The ``if __name__ == "__main__"`` of detkit's command-line tools: a bad input (missing file,
unknown key, bad value) prints ``error: <message>`` on stderr and exits 1 instead of a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["run_cli", "INPUT_ERRORS"]

# errors that mean "the input is wrong" (their messages name the file, key or value)
INPUT_ERRORS: tuple[type[BaseException], ...] = (FileNotFoundError, KeyError, TypeError, ValueError)


def run_cli(
    main: Callable[[], Any], errors: tuple[type[BaseException], ...] = INPUT_ERRORS
) -> NoReturn:
    """Run ``main()``; exit 0, or 1 with ``error: <message>`` on stderr for one of ``errors``."""
    try:
        main()
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
