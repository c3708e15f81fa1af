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
# CACHE_QUERY_BY_USER: the data cache is per user (the viewers' SQL can be the same, their warehouse role is not).
FEATURE_FLAGS = {"DASHBOARD_RBAC": True, "ALLOW_ADHOC_SUBQUERY": True, "CACHE_QUERY_BY_USER": True}
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


def DB_CONNECTION_MUTATOR(uri, params, username, security_manager, source):  # Superset looks this name up
    # A tenant's viewer queries as that tenant's warehouse login (libpq `-c role=…`, i.e. SET ROLE at connect):
    # PostgreSQL's row-level security then hides every other tenant's rows, whatever Superset's filters say.
    role = _SECRETS.get("db_roles", {}).get(username)
    if role:
        params.setdefault("connect_args", {})["options"] = f"-c role={role}"
    return uri, params
