"""The `influx` resource: the optional InfluxDB 2 target (off unless COINBOOK_INFLUX_URL is set); the token
arrives as dg.EnvVar."""

import dagster as dg

from pipelines.services.influx import InfluxTarget


class InfluxResource(dg.ConfigurableResource):
    url: str | None = None
    token: str = ""
    org: str = "coinbook"
    bucket: str = "coinbook"
    batch_size: int = 5_000
    max_retries: int = 3

    def target(self) -> InfluxTarget | None:
        return InfluxTarget(self.url, self.token, self.org, self.bucket) if self.url else None
