"""`coinbook compliance kyc …` and `coinbook compliance thresholds …` (issue 16 §2)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds the KYC register and transfer-threshold commands to `coinbook compliance`."""
