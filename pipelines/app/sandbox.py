"""`coinbook sandbox`: the exchange sandbox in the foreground."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from pipelines.app.console import console
from pipelines.settings import get_settings

if TYPE_CHECKING:
    from sandbox.world import Scale


def sandbox(
    port: int = typer.Option(8765, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    seed: int | None = typer.Option(None, help="Seed of the deterministic world (default: the demo world)."),
    malformed: bool = typer.Option(False, help="Mix a few malformed records into the API responses."),
    tenants: int | None = typer.Option(None, help="Tenants of a scaled world (with --trades; default: "
                                                  "COINBOOK_SANDBOX_SCALE, else the demo's 2)."),
    trades: int | None = typer.Option(None, help="About this many trades in all, over the tenants' accounts."),
) -> None:
    """Run the exchange sandbox (the five venues' REST dialects, chains and explorers) in the foreground."""
    from sandbox.server import run_forever
    from sandbox.world import DEFAULT_SEED

    world_scale = scale_of(get_settings().sandbox_scale, tenants, trades)
    console.print(f"sandbox listening on http://{host}:{port} (world: {world_scale.label}; Ctrl-C to stop)")
    run_forever(host, port, seed=DEFAULT_SEED if seed is None else seed, malformed=malformed, scale=world_scale)


def scale_of(setting: str, tenants: int | None, trades: int | None) -> Scale:
    """The world's scale: --tenants/--trades when given (either one alone keeps the setting's other), else the
    setting (COINBOOK_SANDBOX_SCALE)."""
    from sandbox.world import Scale

    try:
        base = Scale.parse(setting)
        return base if tenants is None and trades is None else Scale(tenants or base.tenants, trades or base.trades)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
