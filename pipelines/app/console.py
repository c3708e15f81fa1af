"""The terminals every command prints to: `console` (results) and `err_console` (what went wrong).

Both mask passwords on the way out: a database URL, an apprise URL or a `password=…` pair that reaches either
terminal is printed with its password as ***, whichever command printed it (`coinbook warehouse url
--show-password` writes the one URL meant to be used, without this console).
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.console import Console

from warehouse.connection import mask_passwords


class PasswordMasking:
    """A text stream that writes through to another one with every password masked (see mask_passwords)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(mask_passwords(text))

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding: the stream's own
        return getattr(self.stream, name)


def _console(stream: TextIO) -> Console:
    # Bound to the real stream now (runs redirect sys.stdout to their log); wide enough for the tables in CI logs.
    return Console(file=PasswordMasking(stream), width=None if stream.isatty() else 130)  # type: ignore[arg-type]


console = _console(sys.stdout)
err_console = _console(sys.stderr)
