"""`coinbook sandbox`: the exchange sandbox in the foreground."""

from __future__ import annotations

import typer

from pipelines.app.console import console


def sandbox(
    port: int = typer.Option(8765, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    seed: int | None = typer.Option(None, help="Seed of the deterministic world (default: the demo world)."),
    malformed: bool = typer.Option(False, help="Mix a few malformed records into the API responses."),
) -> None:
    """Run the exchange sandbox (the five venues' REST dialects, chains and explorers) in the foreground."""
    from sandbox.server import run_forever
    from sandbox.world import DEFAULT_SEED

    console.print(f"sandbox listening on http://{host}:{port} (Ctrl-C to stop)")
    run_forever(host, port, seed=DEFAULT_SEED if seed is None else seed, malformed=malformed)
