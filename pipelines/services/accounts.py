"""The client register: accounts read from ops.accounts (what each sync needs to know about one), and registered
from the sandbox's directory or a YAML file.

Credentials are referenced by name (credential_ref), never stored here: see services/credentials.py.
Partition sets: one per exchange venue (`<venue>_accounts`) and one per on-chain source (`bitcoin_accounts`,
`evm_accounts`, `defi_accounts`), keyed 'tenant.account'.
"""

from __future__ import annotations

import difflib
import json
import re
import urllib.request
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from pipelines.constants import PUBLIC_TENANT
from pipelines.services.venues import SEED_VENUES, all_venues
from pipelines.settings import get_settings
from pipelines.sources.exchanges.client import ExchangeAccount, split_partition_key
from warehouse.accounts import upsert_accounts
from warehouse.connection import Warehouse


@dataclass(frozen=True)
class AccountSpec:
    tenant_id: str
    tenant_name: str
    portfolio_id: str
    portfolio_name: str
    account_id: str
    venue: str
    display_name: str
    mode: str
    credential_ref: str | None
    history_start: datetime | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    kind: str = "exchange"  # exchange | wallet | defi


def specs_from_sandbox(sandbox_url: str) -> list[AccountSpec]:
    with urllib.request.urlopen(f"{sandbox_url}/__sandbox/accounts", timeout=10) as response:
        published = json.load(response)
    return [
        AccountSpec(
            tenant_id=a["tenant_id"], tenant_name=a["tenant_name"], portfolio_id=a["portfolio_id"],
            portfolio_name=a["portfolio_name"], account_id=a["account_id"], venue=a["venue"],
            display_name=a["display_name"], mode="sandbox",
            credential_ref=f"sandbox:{a['account_id']}" if a.get("kind", "exchange") == "exchange" else None,
            history_start=datetime.fromisoformat(a["history_start"].replace("Z", "+00:00"))
            if a.get("history_start") else None,
            settings=a.get("settings") or {}, kind=a.get("kind", "exchange"),
        )
        for a in published["accounts"]
    ]


# ── checking an account before it is registered ─────────────────────────────────────────────────────────
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # the check on ops.tenants/portfolios/accounts ids (V001)
KINDS = ("exchange", "wallet", "defi")
MODES = ("live", "sandbox")
CREDENTIAL_SCHEMES = ("db", "vault", "env", "sandbox")  # what services/credentials.py resolves
# The settings an account of each kind may have: exchanges (markets no longer held), Bitcoin wallets (an
# extended key or plain addresses), EVM wallets (one address), DeFi position sets (an address, its protocols).
KIND_SETTINGS: dict[str, tuple[str, ...]] = {
    "exchange": ("symbols", "assets", "derivatives", "trading"),
    "wallet": ("xpub", "script_type", "gap_limit", "addresses", "address"),
    "defi": ("address", "protocols"),
}
TRADING_VALUES = ("enabled", "disabled")  # `trading: enabled`: approved orders may be sent (issue 18); else read-only
WALLET_SETTINGS = tuple(dict.fromkeys(key for keys in KIND_SETTINGS.values() for key in keys))


def id_problem(what: str, value: str) -> str | None:
    """Why `value` cannot be a tenant, portfolio or account id (None: it can)."""
    if not ID_PATTERN.fullmatch(value):
        return (f"{what} id {value!r} must be 1-63 lower-case letters, digits, '-' or '_', starting with a letter "
                "or digit")
    if what == "tenant" and value == PUBLIC_TENANT:
        return f"tenant id {PUBLIC_TENANT!r} is reserved for market data"
    return None


def evm_chains() -> tuple[str, ...]:
    from pipelines.sources.chains.evm import CHAIN_IDS

    return tuple(CHAIN_IDS)


def account_problems(spec: AccountSpec, exchange_venues: Collection[str]) -> list[tuple[str, str]]:
    """What is wrong with an account before it is registered, as (field, problem); empty when nothing is.
    `exchange_venues` are the venues Coinbook syncs (the seed venues and COINBOOK_VENUES): an account on any
    other venue would never be read. No message repeats a credential reference's value: it may be a pasted key."""
    problems = [(key, problem) for key, what, value in (("tenant", "tenant", spec.tenant_id),
                                                        ("portfolio", "portfolio", spec.portfolio_id),
                                                        ("id", "account", spec.account_id))
                if (problem := id_problem(what, value))]
    if spec.kind not in KINDS:
        return [*problems, ("kind", f"kind {spec.kind!r} is not one of {', '.join(KINDS)}")]
    if spec.mode not in MODES:
        problems.append(("mode", f"mode {spec.mode!r} is not one of {', '.join(MODES)}"))
    problems += _venue_problems(spec, exchange_venues) + _credential_problems(spec)
    misplaced = [key for key in spec.settings if key not in KIND_SETTINGS[spec.kind]]
    problems += [(key, f"{key!r} is not a setting of a {spec.kind} account "
                       f"(those are: {', '.join(KIND_SETTINGS[spec.kind])})") for key in misplaced]
    return problems + ([] if misplaced else _settings_problems(spec))


def _venue_problems(spec: AccountSpec, exchange_venues: Collection[str]) -> list[tuple[str, str]]:
    chains = evm_chains()
    known = {"exchange": tuple(exchange_venues), "wallet": ("bitcoin", *chains), "defi": chains}[spec.kind]
    if spec.venue in known:
        if spec.kind == "exchange" and spec.mode == "sandbox" and spec.venue not in SEED_VENUES:
            return [("mode", f"the sandbox serves {', '.join(SEED_VENUES)} only, not {spec.venue!r}")]
        return []
    hint = ""
    if spec.kind == "exchange":
        hint = ("; a wallet or DeFi account says kind: wallet or kind: defi" if spec.venue in ("bitcoin", *chains)
                else "; another ccxt exchange is synced once it is in COINBOOK_VENUES")
    what = {"exchange": "exchange venue", "wallet": "wallet chain", "defi": "DeFi chain"}[spec.kind]
    return [("venue", f"unknown {what} {spec.venue!r} (known: {', '.join(known)}{hint})")]


def _credential_problems(spec: AccountSpec) -> list[tuple[str, str]]:
    ref = spec.credential_ref
    if spec.kind != "exchange":
        return [("credential", "a wallet or DeFi account is watch-only: it has no credential")] if ref else []
    scheme, _, name = (ref or "").partition(":")
    if scheme not in CREDENTIAL_SCHEMES or not name.strip():
        return [("credential", "an exchange account needs a credential reference: db:<id>, vault:<path>, "
                               "env:<NAME> or sandbox:<account>" + (" (the value given is not shown: it may be a "
                                                                    "secret)" if ref else ""))]
    if scheme == "sandbox" and spec.mode != "sandbox":
        return [("credential", "a sandbox: credential is for mode: sandbox only")]
    return []


def _settings_problems(spec: AccountSpec) -> list[tuple[str, str]]:
    """The wallet's key or addresses and the exchange's market lists, checked as the syncs will read them."""
    settings = spec.settings
    if spec.kind == "exchange":
        return [(key, f"{key} must be a list of names, e.g. [BTC/USDT]") for key in ("symbols", "assets")
                if key in settings and not (isinstance(settings[key], list)
                                            and all(isinstance(v, str) for v in settings[key]))] + (
            [("derivatives", "derivatives must be true or false")]
            if not isinstance(settings.get("derivatives", False), bool) else []) + (
            [("trading", "trading must be 'enabled' or 'disabled' (orders are sent only where it is enabled)")]
            if settings.get("trading", "disabled") not in TRADING_VALUES else [])
    if spec.venue == "bitcoin" and spec.kind == "wallet":
        from pipelines.sources.chains.bitcoin import BtcWalletSpec

        try:
            BtcWalletSpec.from_settings(settings)
        except (ValueError, TypeError) as exc:  # InvalidKey is a ValueError
            key = "xpub" if "xpub" in settings else "addresses"
            return [(key, f"{key}: {exc}")]
        return []
    from pipelines.services.wallets import DEFAULT_PROTOCOLS
    from pipelines.sources.chains.abi import checksum_address

    problems = []
    try:
        checksum_address(str(settings.get("address", "")))
    except ValueError:
        problems.append(("address", f"a {spec.kind} account on {spec.venue} needs one address: 0x and 40 hex digits"))
    unknown = [p for p in settings.get("protocols") or [] if p not in DEFAULT_PROTOCOLS]
    if unknown:
        problems.append(("protocols", f"unknown protocol(s) {', '.join(map(str, unknown))} "
                                      f"(known: {', '.join(DEFAULT_PROTOCOLS)})"))
    return problems


def history_start(value: object) -> datetime | None:
    """An account's history_start: a datetime, a date or ISO 8601 text; no offset means UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ── the accounts file: read whole, every problem found with its line, before anything is written ──────────────
class AccountsFileError(ValueError):
    """An accounts file with mistakes: every problem, each with its line; nothing was registered."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        super().__init__(f"{source}: nothing registered, {len(problems)} problem{'s' if len(problems) > 1 else ''}:\n"
                         + "\n".join(f"  {p}" for p in problems))
        self.problems = list(problems)


FILE_KEYS: dict[str, tuple[str, ...]] = {
    "file": ("tenants",),
    "tenant": ("id", "name", "portfolios"),
    "portfolio": ("id", "name", "accounts"),
    "account": ("id", "venue", "kind", "name", "mode", "credential", "history_start", *WALLET_SETTINGS),
}


class _Mapping(dict[str, Any]):
    """A YAML mapping that knows its line, each key's line (1-based) and the keys it was given twice."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line, self.key_lines, self.repeated = line, dict[str, int](), list[str]()

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _LineLoader(yaml.SafeLoader):
    """yaml.safe_load whose mappings are _Mappings: the nodes' marks give every entry its line."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> Iterator[_Mapping]:
    mapping = _Mapping(node.start_mark.line + 1)
    yield mapping
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = str(loader.construct_object(key_node, deep=True))
        if key in mapping:
            mapping.repeated.append(key)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


class _Problems(list[tuple[int, str]]):
    def add(self, line: int, message: str) -> None:
        self.append((line, message))

    def keys(self, mapping: _Mapping, level: str, label: str) -> None:
        """Keys the file format does not have (a typo would otherwise be ignored) and keys given twice."""
        for key in mapping:
            if key not in FILE_KEYS[level]:
                near = difflib.get_close_matches(key, FILE_KEYS[level], n=1)
                self.add(mapping.line_of(key), f"{label}: unknown key {key!r}"
                         + (f" (did you mean {near[0]!r}?)" if near else f" (known: {', '.join(FILE_KEYS[level])})"))
        for key in mapping.repeated:
            self.add(mapping.line_of(key), f"{label}: {key!r} is given twice")


def _entries(parent: _Mapping, key: str, label: str, problems: _Problems) -> list[_Mapping]:
    """parent[key] as a list of mappings (a missing key: none)."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, _Mapping) for item in value):
        problems.add(parent.line_of(key), f"{label}: {key} must be a list of entries ('- id: …')")
        return []
    return value


def _text(mapping: _Mapping, key: str, label: str, problems: _Problems, default: str | None = None) -> str | None:
    value = mapping.get(key, default)
    if value is not None and not isinstance(value, str | int):
        problems.add(mapping.line_of(key), f"{label}: {key} must be a single value")
        return None
    return None if value is None else str(value)


def _id(mapping: _Mapping, what: str, problems: _Problems) -> str | None:
    ident = _text(mapping, "id", f"{what} at line {mapping.line}", problems)
    if not ident:
        problems.add(mapping.line, f"{what} without an id")
    elif problem := id_problem(what, ident):
        problems.add(mapping.line_of("id"), problem)
    return ident


def parse_accounts(text: str, exchange_venues: Collection[str]) -> tuple[list[AccountSpec], list[str]]:
    """The accounts of an accounts file (see accounts.example.yaml) and every problem in it, 'line N: …', in
    line order. The accounts are only usable when there is no problem."""
    try:
        document = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "line ?"
        return [], [f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]
    if not isinstance(document, _Mapping) or not document.get("tenants"):
        return [], ["line 1: no accounts: the file starts with 'tenants:' (see accounts.example.yaml)"]
    problems = _Problems()
    problems.keys(document, "file", "the file")
    specs: list[AccountSpec] = []
    seen: dict[tuple[str, ...], int] = {}  # (what, id…) -> its first line

    def first(ident: tuple[str, ...], line: int, label: str) -> bool:
        if ident in seen:
            problems.add(line, f"{label}: duplicate {ident[0]} id (first at line {seen[ident]})")
            return False
        seen[ident] = line
        return True

    for tenant in _entries(document, "tenants", "the file", problems):
        tenant_id = _id(tenant, "tenant", problems)
        problems.keys(tenant, "tenant", f"tenant {tenant_id!r}")
        first(("tenant", str(tenant_id)), tenant.line, f"tenant {tenant_id!r}")
        for portfolio in _entries(tenant, "portfolios", f"tenant {tenant_id!r}", problems):
            portfolio_id = _id(portfolio, "portfolio", problems)
            label = f"portfolio {tenant_id}/{portfolio_id}"
            problems.keys(portfolio, "portfolio", label)
            first(("portfolio", str(tenant_id), str(portfolio_id)), portfolio.line, label)
            for account in _entries(portfolio, "accounts", label, problems):
                spec = _account(account, tenant, portfolio, exchange_venues, problems)
                if spec and first(("account", spec.account_id), account.line, f"account {spec.account_id!r}"):
                    specs.append(spec)
    return specs, [f"line {line}: {message}" for line, message in sorted(problems, key=lambda p: p[0])]


def _account(account: _Mapping, tenant: _Mapping, portfolio: _Mapping, exchange_venues: Collection[str],
             problems: _Problems) -> AccountSpec | None:
    """One account entry as an AccountSpec, its problems added (None when it cannot even be built)."""
    account_id = _id(account, "account", problems)
    label = f"account {account_id!r}" if account_id else f"account at line {account.line}"
    problems.keys(account, "account", label)
    venue, kind, mode, credential = (_text(account, key, label, problems, default) for key, default in
                                     (("venue", None), ("kind", "exchange"), ("mode", "live"), ("credential", None)))
    if not venue:
        problems.add(account.line, f"{label}: venue is missing")
    try:
        start = history_start(account.get("history_start"))
    except ValueError:
        problems.add(account.line_of("history_start"),
                     f"{label}: history_start must be an ISO 8601 time, e.g. 2021-01-01T00:00:00+00:00")
        start = None
    quiet = _Problems()  # the tenant's and portfolio's own problems are reported once, with them
    tenant_id, portfolio_id = _text(tenant, "id", "", quiet), _text(portfolio, "id", "", quiet)
    if not (account_id and venue and tenant_id and portfolio_id):
        return None
    spec = AccountSpec(
        tenant_id=tenant_id, tenant_name=_text(tenant, "name", "", quiet) or tenant_id,
        portfolio_id=portfolio_id, portfolio_name=_text(portfolio, "name", "", quiet) or portfolio_id,
        account_id=account_id, venue=venue, display_name=_text(account, "name", label, problems) or account_id,
        mode=mode or "live", credential_ref=credential, history_start=start,
        settings={key: account[key] for key in WALLET_SETTINGS if key in account}, kind=kind or "exchange")
    for key, message in account_problems(spec, exchange_venues):
        if key not in ("tenant", "portfolio", "id"):  # the ids' problems are reported once, by _id
            problems.add(account.line_of(key), f"{label}: {message}")
    return spec


def specs_from_yaml(path: Path, exchange_venues: Collection[str] | None = None) -> list[AccountSpec]:
    """The accounts of a YAML file, checked whole: AccountsFileError lists every problem with its line.
    `exchange_venues` default to the venues the settings sync (the seed venues, or COINBOOK_VENUES)."""
    if exchange_venues is None:
        exchange_venues = all_venues(get_settings().venues)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise AccountsFileError(str(path), [f"cannot be read: {exc}"]) from None
    specs, problems = parse_accounts(text, exchange_venues)
    if problems:
        raise AccountsFileError(str(path), problems)
    return specs


# ── registering: new accounts are added, a registered one changes only when asked ───────────────────────────
@dataclass(frozen=True)
class FieldChange:
    field: str  # as the accounts file names it
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.field}: {self.old} -> {self.new}"


@dataclass(frozen=True)
class AccountChange:
    spec: AccountSpec
    changes: tuple[FieldChange, ...]

    def __str__(self) -> str:
        return f"{self.spec.tenant_id}/{self.spec.account_id}: " + "; ".join(map(str, self.changes))


@dataclass(frozen=True)
class RegistrationPlan:
    specs: tuple[AccountSpec, ...]  # each account once, in the order given
    new: tuple[AccountSpec, ...]
    unchanged: tuple[AccountSpec, ...]
    changed: tuple[AccountChange, ...]
    conflicts: tuple[str, ...]  # never applied, --update or not

    def check(self, update: bool) -> None:
        """Raise RegistrationRefused unless every account may be written: no conflict, and no change to a
        registered account unless `update`."""
        if self.conflicts or (self.changed and not update):
            raise RegistrationRefused(self.conflicts, () if update else self.changed)


class RegistrationRefused(ValueError):
    """Registering these accounts would silently change (or move) registered ones; nothing was written."""

    def __init__(self, conflicts: Sequence[str], changed: Sequence[AccountChange]) -> None:
        lines = [*conflicts, *(f"{c.spec.tenant_id}/{c.spec.account_id} is already registered with other "
                               f"{', '.join(f.field for f in c.changes)}:\n"
                               + "\n".join(f"    {f}" for f in c.changes) for c in changed)]
        hint = ("\n  `coinbook accounts load --update FILE` (or `accounts add … --update`) applies such changes, "
                "printing each one" if changed else "")
        super().__init__("nothing registered:\n" + "\n".join(f"  {line}" for line in lines) + hint)
        self.conflicts, self.changed = tuple(conflicts), tuple(changed)


REGISTERED_SQL = """
select tenant_id, account_id, portfolio_id, venue, kind, display_name, mode, credential_ref, history_start, settings
from ops.accounts where account_id = any(%s)
"""


def plan_registration(wh: Warehouse, specs: Sequence[AccountSpec]) -> RegistrationPlan:
    """What registering `specs` would do to ops.accounts; reads only."""
    with wh.connect() as conn:
        rows = conn.execute(REGISTERED_SQL, ([s.account_id for s in specs],)).fetchall()
    return plan_against({(r[0], r[1]): r for r in rows}, specs)


def plan_against(registered: dict[tuple[str, str], tuple[Any, ...]], specs: Sequence[AccountSpec]) -> RegistrationPlan:
    """The plan, given the registered rows (REGISTERED_SQL's columns) by (tenant, account)."""
    owners: dict[str, set[str]] = {}
    for tenant_id, account_id in registered:
        owners.setdefault(account_id, set()).add(tenant_id)
    given: dict[tuple[str, str], AccountSpec] = {}
    conflicts: list[str] = []
    for spec in specs:
        key = (spec.tenant_id, spec.account_id)
        if key in given:
            if given[key] != spec:
                conflicts.append(f"{spec.tenant_id}/{spec.account_id} is given twice, differently: "
                                 + "; ".join(map(str, field_changes(_row_of(given[key]), spec))))
            continue
        given[key] = spec
        others = sorted((owners.get(spec.account_id, set()) | {t for t, a in given if a == spec.account_id})
                        - {spec.tenant_id})
        if others:
            conflicts.append(f"account id {spec.account_id!r} belongs to tenant {others[0]!r}, not "
                             f"{spec.tenant_id!r}: an account never moves to another tenant (its history stays "
                             "there); register it under another id")
    new, unchanged, changed = [], [], []
    for key, spec in given.items():
        if key not in registered:
            new.append(spec)
        elif changes := field_changes(registered[key], spec):
            changed.append(AccountChange(spec, changes))
        else:
            unchanged.append(spec)
    return RegistrationPlan(tuple(given.values()), tuple(new), tuple(unchanged), tuple(changed), tuple(conflicts))


def _row_of(spec: AccountSpec) -> tuple[Any, ...]:
    return (spec.tenant_id, spec.account_id, spec.portfolio_id, spec.venue, spec.kind, spec.display_name, spec.mode,
            spec.credential_ref, spec.history_start, spec.settings)


def field_changes(row: tuple[Any, ...], spec: AccountSpec) -> tuple[FieldChange, ...]:
    """Each field of a registered account (a REGISTERED_SQL row) that `spec` would change, named as the
    accounts file names it. A credential is shown as its reference, the only thing Coinbook keeps of it here."""
    _, _, portfolio, venue, kind, name, mode, credential, start, settings = row
    pairs = [("portfolio", portfolio, spec.portfolio_id), ("venue", venue, spec.venue), ("kind", kind, spec.kind),
             ("name", name, spec.display_name), ("mode", mode, spec.mode),
             ("credential", credential, spec.credential_ref), ("history_start", start, spec.history_start)]
    settings = settings or {}
    pairs += [(key, settings.get(key), spec.settings.get(key))
              for key in dict.fromkeys([*settings, *spec.settings])]
    return tuple(FieldChange(name, _shown(old), _shown(new)) for name, old, new in pairs if old != new)


def _shown(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, datetime):
        return value.isoformat()
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 48 else f"{text[:24]}…{text[-12:]}"  # an xpub: enough to tell two apart


def apply_registration(wh: Warehouse, plan: RegistrationPlan) -> int:
    """Write a checked plan (see RegistrationPlan.check); returns how many accounts were new."""
    return upsert_accounts(wh, plan.specs)


def register_accounts(wh: Warehouse, specs: Sequence[AccountSpec], *, update: bool = False) -> int:
    """Register accounts: new ones are added, registered ones left as they are; a registered account that
    `specs` would change raises RegistrationRefused (nothing written) unless `update`. Returns how many were new."""
    plan = plan_registration(wh, specs)
    plan.check(update)
    return apply_registration(wh, plan)


# ── reading the register ─────────────────────────────────────────────────────────────────────────────────
# The on-chain partition sets: (account kind, venues; None = every venue of that kind but bitcoin for 'evm')
WALLET_SOURCES: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "bitcoin": ("wallet", ("bitcoin",)),
    "evm": ("wallet", None),  # every EVM chain: ethereum, arbitrum, ...
    "defi": ("defi", None),
}

ACCOUNTS_SQL = """
select tenant_id, account_id, portfolio_id, venue, mode, credential_ref,
       (extract(epoch from history_start) * 1000)::bigint, settings
from ops.accounts
where kind = any(%(kinds)s) and (%(venue)s::text is null or venue = %(venue)s)
  and (enabled or not %(enabled_only)s)
order by tenant_id, account_id
"""


def accounts(wh: Warehouse, venue: str | None = None, *, enabled_only: bool = True,
             kinds: tuple[str, ...] = ("exchange",)) -> list[ExchangeAccount]:
    with wh.connect() as conn:
        rows = conn.execute(ACCOUNTS_SQL, {"venue": venue, "enabled_only": enabled_only,
                                           "kinds": list(kinds)}).fetchall()
    return [ExchangeAccount(t, a, p, v, m, c, h, s or {}) for t, a, p, v, m, c, h, s in rows]


@dataclass(frozen=True)
class RegisteredAccount:
    """A row of the register as `coinbook accounts list` shows it: every kind, enabled or not."""

    tenant_id: str
    portfolio_id: str
    account_id: str
    kind: str
    venue: str  # the exchange, or the chain of a wallet or DeFi account
    mode: str
    credential_ref: str | None
    settings: dict[str, Any]
    enabled: bool


REGISTER_SQL = """
select tenant_id, portfolio_id, account_id, kind, venue, mode, credential_ref, settings, enabled
from ops.accounts order by tenant_id, portfolio_id, kind, account_id
"""


def registered_accounts(wh: Warehouse) -> list[RegisteredAccount]:
    with wh.connect() as conn:
        return [RegisteredAccount(*row[:7], row[7] or {}, row[8]) for row in conn.execute(REGISTER_SQL).fetchall()]


def account(wh: Warehouse, partition: str) -> ExchangeAccount:
    """The account behind a partition key 'tenant.account' (enabled or not)."""
    tenant_id, account_id = split_partition_key(partition)
    for found in accounts(wh, enabled_only=False, kinds=("exchange", "wallet", "defi")):
        if (found.tenant_id, found.account_id) == (tenant_id, account_id):
            return found
    raise LookupError(f"no account {account_id!r} for tenant {tenant_id!r} in ops.accounts")


def accounts_of(wh: Warehouse, source: str) -> list[ExchangeAccount]:
    """The enabled accounts behind a partition set: an exchange venue's, or an on-chain source's."""
    if source not in WALLET_SOURCES:
        return accounts(wh, source)
    kind, venues = WALLET_SOURCES[source]
    found = accounts(wh, kinds=(kind,))
    if source == "evm":
        return [a for a in found if a.venue != "bitcoin"]
    return [a for a in found if venues is None or a.venue in venues]


def venue_mode(wh: Warehouse, venue: str) -> str | None:
    """Market data comes from the sandbox when every account of the venue is a sandbox account; a venue
    without accounts needs no market data (None)."""
    modes = {a.mode for a in accounts(wh, venue)}
    if not modes:
        return None
    return "sandbox" if modes == {"sandbox"} else "live"


def history_start_ms(wh: Warehouse, venue: str) -> int | None:
    with wh.connect() as conn:
        row = conn.execute(
            "select (extract(epoch from min(history_start)) * 1000)::bigint from ops.accounts where venue = %s",
            (venue,),
        ).fetchone()
    return row[0] if row else None


def resolve_account(wh: Warehouse, account_id: str, tenant_id: str | None = None) -> tuple[str, str]:
    """(tenant, account) of an account id given on a command line; --tenant only when the id is ambiguous."""
    with wh.connect() as conn:
        found = conn.execute("select tenant_id, account_id from ops.accounts where account_id = %s "
                             "and (%s::text is null or tenant_id = %s)", (account_id, tenant_id, tenant_id)).fetchall()
    if not found:
        raise LookupError(f"no account {account_id!r}" + (f" for tenant {tenant_id!r}" if tenant_id else "")
                          + " in ops.accounts (coinbook accounts list)")
    if len(found) > 1:
        raise LookupError(f"account {account_id!r} exists for several tenants: pass --tenant")
    return found[0][0], found[0][1]
