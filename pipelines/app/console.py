"""The terminal every command prints to."""

from __future__ import annotations

import sys

from rich.console import Console

# Bound to the real stdout now (runs redirect sys.stdout to their log); wide enough for the tables in CI logs.
console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 130)
