"""The `chains` resource: where the chain APIs are for live wallets (the sandbox's for sandbox ones). The
Etherscan key arrives as dg.EnvVar (pipelines/defs/resources.py)."""

import dagster as dg
from pydantic import Field

from pipelines.services.wallets import ChainEndpoints


class ChainResource(dg.ConfigurableResource):
    sandbox_url: str | None = None
    esplora_url: str = "https://blockstream.info/api"
    etherscan_url: str = "https://api.etherscan.io/v2/api"
    etherscan_api_key: str | None = None
    rpc_urls: dict[str, str] = Field(default_factory=dict)

    def get(self) -> ChainEndpoints:
        return ChainEndpoints(self.sandbox_url, self.esplora_url, self.etherscan_url, self.etherscan_api_key,
                              dict(self.rpc_urls))
