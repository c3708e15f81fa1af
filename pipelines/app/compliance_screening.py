"""`coinbook compliance load-sanctions …` and `coinbook compliance screening …` (issue 16 §2)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds the screening commands to `coinbook compliance`."""
