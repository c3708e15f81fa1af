"""Superset's configuration for Coinbook (SUPERSET_CONFIG_PATH points here; `coinbook dashboards up` sets it).

Everything local lives in $COINBOOK_SUPERSET_HOME (.coinbook/superset/): the SQLite metadata and secrets.json
(0600: the secret key, the logins' and the warehouse's passwords, generated on first use). The warehouse's
password never enters Superset's metadata or the bundle: SQLALCHEMY_CUSTOM_PASSWORD_STORE gives it at connect time.
"""

import json
import os
from pathlib import Path

_HOME = Path(os.environ["COINBOOK_SUPERSET_HOME"])
_SECRETS = json.loads((_HOME / "secrets.json").read_text())

SECRET_KEY = _SECRETS["secret_key"]
SQLALCHEMY_DATABASE_URI = f"sqlite:///{_HOME / 'superset.db'}?check_same_thread=false"
# No Redis or Celery: dashboards only (no alerts, reports or async queries).
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 60}
FILTER_STATE_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache"}
EXPLORE_FORM_DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache"}
RATELIMIT_STORAGE_URI = "memory://"
# ALLOW_ADHOC_SUBQUERY: "the latest day" filters (as_of = (SELECT MAX(as_of) FROM …)).
FEATURE_FLAGS = {"DASHBOARD_RBAC": True, "ALLOW_ADHOC_SUBQUERY": True}
FAB_ADD_SECURITY_API = True  # roles, users and row-level filters are created over the REST API
SUPERSET_LOAD_EXAMPLES = False
TALISMAN_ENABLED = False  # bound to 127.0.0.1, plain HTTP
WTF_CSRF_ENABLED = True
SQLLAB_CTAS_NO_LIMIT = False
THUMBNAIL_SELENIUM_USER = None
LOG_LEVEL = "WARNING"


def _warehouse_password(_url: object) -> str | None:
    # Called each time Superset connects to the warehouse; None: the URL needs no password.
    return _SECRETS.get("warehouse_password")


SQLALCHEMY_CUSTOM_PASSWORD_STORE = _warehouse_password
