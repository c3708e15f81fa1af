"""The `notifier` resource: where alerts are sent beyond ops.alerts (COINBOOK_NOTIFY_URLS, as dg.EnvVar: the URLs
carry tokens) — services/notify.py sends."""

from collections.abc import Sequence

import dagster as dg

from pipelines.services.notify import NotifyReport, NotifySettings, notify_alerts
from warehouse.connection import Warehouse


class NotifierResource(dg.ConfigurableResource):
    urls: str | None = None
    min_severity: str = "warning"

    def send(self, wh: Warehouse, kinds: Sequence[str]) -> NotifyReport:
        """Every due raise and resolution of `kinds` to every target; never raises (a dead webhook fails no run)."""
        return notify_alerts(wh, NotifySettings(self.urls, self.min_severity), kinds)
