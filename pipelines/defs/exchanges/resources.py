"""The `exchanges` resource: hardened ccxt clients (services/clients.py), configured from the settings. The master
key and the Vault token arrive as dg.EnvVar (pipelines/defs/resources.py), so Dagster never shows them."""

from pathlib import Path

import dagster as dg

from pipelines.services.clients import ExchangeClients
from pipelines.services.credentials import KeySources


class ExchangeResource(dg.ConfigurableResource):
    """`sandbox_url` is used for accounts whose mode is 'sandbox'; live accounts go to the real venue.
    `batching` / `caching` exist so the benchmark can measure what they save; leave them on."""

    sandbox_url: str | None = None
    database_url: str | None = None   # for `db:` credentials
    home: str = ".coinbook"           # the public-data cache lives here
    master_key: str | None = None
    master_key_file: str = ".coinbook/master.key"
    vault_addr: str | None = None
    vault_token: str | None = None
    vault_mount: str = "secret"
    rate_limit: bool = True
    batching: bool = True
    caching: bool = True
    max_attempts: int = 6
    base_delay_s: float = 0.25
    timeout_ms: int = 10_000
    request_budget: int | None = None  # calls per venue per minute; None = the venue profile's figure

    def get(self) -> ExchangeClients:
        keys = KeySources(self.master_key, Path(self.master_key_file), self.vault_addr, self.vault_token,
                          self.vault_mount)
        return ExchangeClients(self.sandbox_url, self.database_url, self.home, keys, self.rate_limit, self.batching,
                               self.caching, self.max_attempts, self.base_delay_s, self.timeout_ms,
                               self.request_budget)
