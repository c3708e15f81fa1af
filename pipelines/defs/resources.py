"""Every resource, built in one place from the settings. Secrets set in the environment go in as dg.EnvVar, so the
Dagster UI and run config show the variable's name, never its value (a secret only in `.env` goes in as its value:
Dagster cannot resolve a variable the process does not have)."""

from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource
from pydantic import SecretStr

from pipelines.defs.alerts.resources import NotifierResource
from pipelines.defs.common import WarehouseResource
from pipelines.defs.exchanges.resources import ExchangeResource
from pipelines.defs.exports.resources import InfluxResource
from pipelines.defs.wallets.resources import ChainResource
from pipelines.services.dbt import dbt_executable
from pipelines.settings import CoinbookSettings, env_var_name, from_environment, resolve_database_url


def secret(settings: CoinbookSettings, name: str) -> Any:
    """A secret setting for a resource field: dg.EnvVar when the environment has it, else its value (or None)."""
    value: SecretStr | None = getattr(settings, name)
    if value is None:
        return None
    return dg.EnvVar(env_var_name(name)) if from_environment(name) else value.get_secret_value()


def build_resources(settings: CoinbookSettings) -> dict[str, Any]:
    database_url = resolve_database_url(settings)
    return {
        "warehouse": WarehouseResource(database_url=database_url),
        "dbt": DbtCliResource(project_dir=str(settings.dbt_project_dir), dbt_executable=dbt_executable()),
        "exchanges": ExchangeResource(sandbox_url=settings.sandbox_url, database_url=database_url,
                                      home=str(settings.home), master_key=secret(settings, "master_key"),
                                      master_key_file=str(settings.key_file), vault_addr=settings.vault_addr,
                                      vault_token=secret(settings, "vault_token"), vault_mount=settings.vault_mount),
        "chains": ChainResource(sandbox_url=settings.sandbox_url, esplora_url=settings.esplora_url,
                                etherscan_url=settings.etherscan_url,
                                etherscan_api_key=secret(settings, "etherscan_api_key"), rpc_urls=settings.rpc_urls),
        "notifier": NotifierResource(urls=secret(settings, "notify_urls"),
                                     min_severity=settings.notify_min_severity),
        "influx": InfluxResource(url=settings.influx_url, token=secret(settings, "influx_token") or "",
                                 org=settings.influx_org, bucket=settings.influx_bucket,
                                 batch_size=settings.influx_batch_size, max_retries=settings.influx_max_retries),
    }
