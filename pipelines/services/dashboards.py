"""Superset for Coinbook: its own virtualenv (from dashboards/superset/requirements.lock), configuration and
secrets under <home>/superset/, the committed bundle imported, a viewer login per tenant with row-level filters,
and gunicorn bound to 127.0.0.1 (`coinbook dashboards up|down|status`, `make dashboards`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import requests
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pipelines.domain.dashboards import DASHBOARDS, DATASETS, rls_clause
from pipelines.services import dashboards_bundle
from pipelines.services.users import UserError, add_user, remove_user
from pipelines.settings import PROJECT_ROOT
from warehouse.cluster import file_lock
from warehouse.connection import Warehouse
from warehouse.dashboards import grant_membership

LOCK_FILE = PROJECT_ROOT / "dashboards" / "superset" / "requirements.lock"
CONFIG_TEMPLATE = PROJECT_ROOT / "dashboards" / "superset" / "superset_config.py"
IMPORTER = PROJECT_ROOT / "dashboards" / "superset" / "import_assets.py"  # overwrites charts and datasets too
ADMIN = "admin"
START_TIMEOUT_S = 180.0


class DashboardsError(RuntimeError):
    """Superset cannot be installed, set up or started; the message says what failed (and where its log is)."""


@dataclass(frozen=True)
class Paths:
    root: Path
    shared_venv: Path | None = None  # tests: one virtualenv for every test's Superset

    def __post_init__(self) -> None:
        # absolute: the superset and gunicorn commands run in `root` (COINBOOK_HOME may be relative)
        object.__setattr__(self, "root", self.root.resolve())
        if self.shared_venv is not None:
            object.__setattr__(self, "shared_venv", self.shared_venv.resolve())

    @property
    def venv(self) -> Path:
        return self.shared_venv or self.root / "venv"

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    @property
    def config(self) -> Path:
        return self.root / "superset_config.py"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets.json"

    @property
    def pid(self) -> Path:
        return self.root / "gunicorn.pid"

    @property
    def log(self) -> Path:
        return self.root / "superset.log"

    @property
    def state(self) -> Path:
        return self.root / "state.json"


@dataclass(frozen=True)
class Status:
    running: bool
    pid: int | None
    url: str
    logins: dict[str, str]  # username → password

    def __str__(self) -> str:
        state = f"running (pid {self.pid})" if self.running else "stopped"
        return f"superset {state}\n  url: {self.url}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_venv(paths: Paths) -> bool:
    """Superset's own virtualenv, (re)installed from the lock when missing or when the lock changed. True when
    it was installed now."""
    marker = paths.venv / ".lock-sha256"
    wanted = _sha256(LOCK_FILE)
    if marker.exists() and marker.read_text() == wanted and paths.bin("superset").exists():
        return False
    with file_lock(paths.venv.parent / "venv.lock"):  # two processes (pytest workers) installing at once
        if marker.exists() and marker.read_text() == wanted and paths.bin("superset").exists():
            return False
        _install_venv(paths)
        marker.write_text(wanted)
    return True


def _install_venv(paths: Paths) -> None:
    uv = Path(sys.executable).parent / "uv"
    uv_cmd = str(uv) if uv.exists() else shutil.which("uv")
    if not uv_cmd:
        raise DashboardsError("uv is needed to install Superset's virtualenv (make setup installs it into .venv)")
    paths.venv.parent.mkdir(parents=True, exist_ok=True)
    for cmd in ([uv_cmd, "venv", "-q", "--allow-existing", "--python", sys.executable, str(paths.venv)],
                [uv_cmd, "pip", "install", "-q", "--python", str(paths.bin("python")), "-r", str(LOCK_FILE)]):
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise DashboardsError(f"installing Superset failed ({' '.join(cmd[:3])}):\n{result.stderr[-2000:]}")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def split_password(database_url: str) -> tuple[str, str | None]:
    """(the URL Superset stores — SQLAlchemy form, no password —, the password or None)."""
    params = conninfo_to_dict(database_url)
    password = params.pop("password", None)
    user = params.get("user", "postgres")
    host = params.get("host", "127.0.0.1")
    port = params.get("port", "5432")
    dbname = params.get("dbname", user)
    extra = {k: v for k, v in params.items() if k not in ("user", "host", "port", "dbname")}
    query = "&".join(f"{k}={v}" for k, v in sorted(extra.items()))
    return f"postgresql+psycopg2://{user}@{host}:{port}/{dbname}" + (f"?{query}" if query else ""), password


def ensure_secrets(paths: Paths, tenants: list[str]) -> dict[str, Any]:
    """secrets.json (0600): generated on first use, a viewer's password added for each new tenant."""
    current: dict[str, Any] = json.loads(paths.secrets.read_text()) if paths.secrets.exists() else {}
    current.setdefault("secret_key", secrets.token_urlsafe(42))
    current.setdefault("admin_password", secrets.token_urlsafe(12))
    viewers = current.setdefault("viewers", {})
    for tenant in tenants:
        viewers.setdefault(tenant, secrets.token_urlsafe(12))
    _write_private(paths.secrets, json.dumps(current, indent=2))
    return current


def db_login(database_url: str) -> str:
    """The warehouse login Superset connects as: `superset` on the default database, else one per database
    (logins are cluster-wide; a test database must not reset the project's)."""
    dbname = conninfo_to_dict(database_url).get("dbname", "coinbook")
    return "superset" if dbname == "coinbook" else f"superset_{dbname}"[:54]


def ensure_db_logins(paths: Paths, database_url: str, tenants: list[str],
                     admin_url: str | None = None) -> tuple[str, str | None]:
    """Superset's warehouse connection: a login of group manager with every tenant, which may SET ROLE to a
    login per tenant (manager, that tenant only) — what the connection mutator does for each tenant's viewer.
    Logins are made through `admin_url` (the private cluster's superuser; default: the warehouse URL). Returns
    (URL without password, password). When logins cannot be created (V016's roles missing, no CREATEROLE), the
    warehouse URL itself, and the row-level filters alone keep viewers apart."""
    current = json.loads(paths.secrets.read_text())
    wh = Warehouse(admin_url or database_url)
    login = db_login(database_url)
    try:
        password = add_user(wh, login, "manager", tenants, current.get("db_password"), exist_ok=True)
        roles = {}
        for tenant in tenants:
            tenant_login = f"{login}_{tenant}"[:63]
            add_user(wh, tenant_login, "manager", [tenant], current.get("db_tenant_passwords", {}).get(tenant),
                     exist_ok=True)
            grant_membership(wh, tenant_login, login)
            roles[viewer_name(tenant)] = tenant_login
    except (UserError, psycopg.errors.InsufficientPrivilege) as exc:  # no CREATEROLE, no V016 roles
        current.update(warehouse_password=split_password(database_url)[1], db_roles={}, db_login_problem=str(exc))
        _write_private(paths.secrets, json.dumps(current, indent=2))
        return split_password(database_url)
    params = conninfo_to_dict(database_url)
    params.update(user=login, password=password)
    current.update(db_password=password, warehouse_password=password, db_roles=roles, db_login_problem=None)
    _write_private(paths.secrets, json.dumps(current, indent=2))
    return split_password(make_conninfo(**params))


def remove_db_logins(database_url: str, tenants: list[str], admin_url: str | None = None) -> None:
    """The logins ensure_db_logins made for this database (tests: their database goes, the logins must too)."""
    wh = Warehouse(admin_url or database_url)
    login = db_login(database_url)
    for name in [f"{login}_{tenant}"[:63] for tenant in tenants] + [login]:
        with contextlib.suppress(UserError):
            remove_user(wh, name)


def viewer_name(tenant: str) -> str:
    return f"viewer_{tenant}"


def _env(paths: Paths) -> dict[str, str]:
    return {**os.environ, "SUPERSET_CONFIG_PATH": str(paths.config), "COINBOOK_SUPERSET_HOME": str(paths.root),
            "FLASK_APP": "superset.app:create_app()", "PYTHONUNBUFFERED": "1", "DO_NOT_TRACK": "1"}


def _superset(paths: Paths, *args: str) -> str:
    result = subprocess.run([str(paths.bin("superset")), *args], capture_output=True, text=True,
                            env=_env(paths), cwd=paths.root, check=False)
    if result.returncode != 0:
        raise DashboardsError(f"superset {args[0]} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return result.stdout + result.stderr


def tenants_of(database_url: str) -> list[str]:
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        return [row[0] for row in conn.execute("SELECT tenant_id FROM ops.tenants ORDER BY tenant_id")]


def set_up(paths: Paths, sqlalchemy_uri: str, secret: dict[str, Any]) -> list[str]:
    """Metadata database, admin, roles and the bundle. The once-only steps run again when the lock changes;
    the import runs every time (fixed UUIDs: it updates in place, charts and datasets included). Returns what was
    done."""
    done = []
    shutil.copyfile(CONFIG_TEMPLATE, paths.config)
    state = json.loads(paths.state.read_text()) if paths.state.exists() else {}
    if state.get("initialised") != _sha256(LOCK_FILE):
        _superset(paths, "db", "upgrade")
        out = _superset(paths, "fab", "create-admin", "--username", ADMIN, "--firstname", "Coinbook",
                        "--lastname", "Admin", "--email", "admin@coinbook.invalid",
                        "--password", secret["admin_password"])
        if "already exist" in out:  # a metadata database kept from before: make its password ours
            _superset(paths, "fab", "reset-password", "--username", ADMIN, "--password", secret["admin_password"])
        _superset(paths, "init")
        state["initialised"] = _sha256(LOCK_FILE)
        paths.state.write_text(json.dumps(state))
        done.append("initialised")
    bundle = paths.root / "bundle.zip"
    bundle.write_bytes(dashboards_bundle.zipped(sqlalchemy_uri, kind="assets"))
    result = subprocess.run([str(paths.bin("python")), str(IMPORTER), str(bundle), ADMIN], capture_output=True,
                            text=True, env=_env(paths), cwd=paths.root, check=False)
    if result.returncode != 0:
        raise DashboardsError(f"importing the bundle failed:\n{(result.stdout + result.stderr)[-3000:]}")
    done.append("imported")
    return done


def _pid_of(paths: Paths) -> int | None:
    if not paths.pid.exists():
        return None
    try:
        pid = int(paths.pid.read_text().strip())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return None
    except PermissionError:
        return pid
    return pid


def url_of(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def wait_healthy(url: str, paths: Paths, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/health", timeout=5).ok:
                return
        if not _pid_of(paths) and time.monotonic() > deadline - timeout + 20:
            break
        time.sleep(1)
    log = paths.log.read_text()[-2000:] if paths.log.exists() else ""
    raise DashboardsError(f"Superset did not answer on {url} (log: {paths.log}):\n{log}")


def start(paths: Paths, port: int) -> int:
    """gunicorn on 127.0.0.1:port (daemonised; its pid in gunicorn.pid). Already running: its pid."""
    running = _pid_of(paths)
    if running:
        return running
    cmd = [str(paths.bin("gunicorn")), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
           "--worker-class", "gthread", "--timeout", "120", "--no-control-socket", "--daemon", "--capture-output",
           "--pid", str(paths.pid), "--error-logfile", str(paths.log), "--log-level", "warning",
           "superset.app:create_app()"]
    result = subprocess.run(cmd, env=_env(paths), cwd=paths.root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DashboardsError(f"gunicorn did not start:\n{(result.stdout + result.stderr)[-2000:]}")
    wait_healthy(url_of(port), paths)
    pid = _pid_of(paths)
    if pid is None:
        raise DashboardsError(f"gunicorn exited (log: {paths.log})")
    return pid


def stop(paths: Paths, timeout: float = 20.0) -> bool:
    """SIGTERM to gunicorn's master, SIGKILL if it is still there after `timeout`. False: it was not running."""
    pid = _pid_of(paths)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_of(paths):
        time.sleep(0.2)
    if _pid_of(paths):
        os.kill(pid, signal.SIGKILL)
    paths.pid.unlink(missing_ok=True)
    return True


# ── the REST API (roles, users and row-level filters are not in bundles) ──
class Api:
    """An admin session: a bearer token and the CSRF token its session cookie carries."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        self.session = requests.Session()
        token = self._check(self.session.post(f"{url}/api/v1/security/login", timeout=30, json={
            "username": username, "password": password, "provider": "db", "refresh": True}))["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"
        csrf = self._check(self.session.get(f"{url}/api/v1/security/csrf_token/", timeout=30))["result"]
        self.session.headers.update({"X-CSRFToken": csrf, "Referer": url})

    @staticmethod
    def _check(response: requests.Response) -> Any:
        if not response.ok:
            raise DashboardsError(f"Superset API {response.request.method} {response.request.path_url}: "
                                  f"{response.status_code} {response.text[:500]}")
        return response.json() if response.content else {}

    def get(self, path: str, **params: Any) -> Any:
        return self._check(self.session.get(f"{self.url}{path}", params=params, timeout=60))

    def post(self, path: str, body: Any) -> Any:
        return self._check(self.session.post(f"{self.url}{path}", json=body, timeout=60))

    def put(self, path: str, body: Any) -> Any:
        return self._check(self.session.put(f"{self.url}{path}", json=body, timeout=60))

    def all(self, path: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        page = 0
        while True:
            batch = self.get(path, q=f"(page:{page},page_size:100)")["result"]
            rows += batch
            if len(batch) < 100:
                return rows
            page += 1


def _by_name(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}


def tenant_role(tenant: str) -> str:
    return f"tenant_{tenant}"


def ensure_viewers(api: Api, tenants: list[str], passwords: dict[str, str]) -> None:
    """Per tenant: a role (read every dataset: Superset's all_datasource_access), a viewer login with it and
    Gamma, and row-level filters on that role for every dataset (rls_clause). Re-runs update in place."""
    roles = _by_name(api.all("/api/v1/security/roles/"), "name")
    datasets = {row["table_name"]: row["id"] for row in api.all("/api/v1/dataset/") if row.get("schema") == "marts"}
    missing = [dataset.mart for dataset in DATASETS if dataset.mart not in datasets]
    if missing:
        raise DashboardsError(f"datasets missing after the import: {', '.join(missing)}")
    permission = next((row["id"] for row in api.all("/api/v1/security/permissions-resources/")
                       if row["permission"]["name"] == "all_datasource_access"), None)
    if permission is None:
        raise DashboardsError("Superset has no all_datasource_access permission (was `superset init` run?)")
    users = _by_name(api.all("/api/v1/security/users/"), "username")
    filters = _by_name(api.all("/api/v1/rowlevelsecurity/"), "name")
    for tenant in tenants:
        name = tenant_role(tenant)
        if name not in roles:
            roles[name] = {"id": api.post("/api/v1/security/roles/", {"name": name})["id"], "name": name}
        role_id = roles[name]["id"]
        api.post(f"/api/v1/security/roles/{role_id}/permissions", {"permission_view_menu_ids": [permission]})
        user = {"first_name": tenant, "last_name": "viewer", "email": f"{viewer_name(tenant)}@coinbook.invalid",
                "active": True, "roles": [roles["Gamma"]["id"], role_id], "password": passwords[tenant]}
        if viewer_name(tenant) in users:
            api.put(f"/api/v1/security/users/{users[viewer_name(tenant)]['id']}", user)
        else:
            api.post("/api/v1/security/users/", {"username": viewer_name(tenant), **user})
        for shared in (False, True):
            tables = [datasets[d.mart] for d in DATASETS if d.shared == shared]
            clause = rls_clause(tenant, next(d for d in DATASETS if d.shared == shared))
            filter_name = f"{name}{'_shared' if shared else ''}"
            body = {"name": filter_name, "filter_type": "Regular", "tables": tables, "roles": [role_id],
                    "clause": clause, "group_key": "tenant", "description": f"{tenant}'s rows only"}
            if filter_name in filters:
                api.put(f"/api/v1/rowlevelsecurity/{filters[filter_name]['id']}", body)
            else:
                api.post("/api/v1/rowlevelsecurity/", body)


@contextlib.contextmanager
def _timed(log: list[str], what: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    log.append(f"{what} ({time.monotonic() - started:.0f} s)")


def up(root: Path, database_url: str, port: int, venv: Path | None = None,
       admin_url: str | None = None) -> tuple[Status, list[str]]:
    """Install (once), set up, import, start and create the viewers; the status with the logins, and what was
    done with its time. `venv`: a virtualenv elsewhere than <root>/venv (tests share one); `admin_url`: where
    warehouse logins are made (see ensure_db_logins)."""
    paths = Paths(root, venv)
    paths.root.mkdir(parents=True, exist_ok=True)
    log: list[str] = []
    started = time.monotonic()
    if ensure_venv(paths):
        log.append(f"virtualenv installed ({time.monotonic() - started:.0f} s)")
    before = _fingerprint(paths)
    tenants = tenants_of(database_url)
    secret = ensure_secrets(paths, tenants)
    sqlalchemy_uri, _ = ensure_db_logins(paths, database_url, tenants, admin_url)
    problem = json.loads(paths.secrets.read_text()).get("db_login_problem")
    if problem:
        log.append(f"no warehouse logins for Superset ({problem}): viewers are kept apart by Superset's row-level "
                   "filters only, it connects with the warehouse URL")
    with _timed(log, "set-up and import"):
        set_up(paths, sqlalchemy_uri, secret)
    # the server reads its configuration and secrets (a new tenant's warehouse role) when it starts
    if _fingerprint(paths) != before and stop(paths):
        log.append("restarted with the new configuration")
    with _timed(log, "server"):
        start(paths, port)
    with _timed(log, "viewers"):
        ensure_viewers(Api(url_of(port), ADMIN, secret["admin_password"]), tenants, secret["viewers"])
    return status(root, port), log


def _fingerprint(paths: Paths) -> str:
    digest = hashlib.sha256()
    for path in (paths.config, paths.secrets):
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()


def status(root: Path, port: int) -> Status:
    paths = Paths(root)
    secret = json.loads(paths.secrets.read_text()) if paths.secrets.exists() else {}
    logins = {ADMIN: secret["admin_password"]} if "admin_password" in secret else {}
    logins |= {viewer_name(tenant): password for tenant, password in secret.get("viewers", {}).items()}
    pid = _pid_of(paths)
    return Status(pid is not None, pid, url_of(port), logins)


def down(root: Path) -> bool:
    return stop(Paths(root))


def dashboard_slugs() -> list[str]:
    return [dashboard.slug for dashboard in DASHBOARDS]



# ── the browser check's Chromium (tests/e2e/test_dashboards.py) ──
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def ensure_chromium() -> tuple[Path, Path]:
    """Debian's chromium and chromium-driver, installed on the spot when missing and we are root (as the private
    cluster installs postgresql)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise DashboardsError("the browser check needs Debian's chromium and chromium-driver "
                                  "(apt-get install chromium chromium-driver)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        with file_lock(Path("/tmp/coinbook-apt.lock")):
            for cmd in (["apt-get", "update", "-q"],
                        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", "chromium-driver"]):
                if CHROMIUM.exists() and CHROMEDRIVER.exists():
                    break
                result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
                if result.returncode != 0:
                    raise DashboardsError(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return CHROMIUM, CHROMEDRIVER
