"""API credentials: encrypted at rest, resolved by reference, never printed.

An account names its credential with `credential_ref`; the secret itself lives in one of:
- `db:<credential_id>`  — ops.credentials, AES-256-GCM encrypted with a master key that is NOT in the database
  (COINBOOK_MASTER_KEY, or the key file COINBOOK_MASTER_KEY_FILE, default .coinbook/master.key, mode 0600).
  The ciphertext is bound to (tenant_id, credential_id), so a row moved to another tenant does not decrypt.
  Several keys may be given (comma-separated, newest first) to rotate: `coinbook accounts rotate-key`.
- `vault:<path>` — HashiCorp Vault KV v2 through hvac (COINBOOK_VAULT_ADDR, COINBOOK_VAULT_TOKEN,
  COINBOOK_VAULT_MOUNT=secret), fields api_key, secret, password.
- `env:<NAME>` — COINBOOK_SECRET_<NAME>_API_KEY / _SECRET / _PASSWORD (for CI and containers).
- `sandbox:<account>` — the local sandbox's published demo keys.
Where the keys and Vault are comes in as a `KeySources` (from the settings, or a Dagster resource's fields).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pipelines.settings import CoinbookSettings, secret_credentials, secret_prefix
from pipelines.sources.exchanges.client import CredentialError, Credentials
from warehouse.accounts import store_sealed_credentials
from warehouse.connection import Warehouse

KEY_BYTES = 32  # AES-256


# ── pure: keys and the cipher ─────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class MasterKey:
    material: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"coinbook-master-key:" + self.material).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id})"

    @classmethod
    def parse(cls, text: str) -> MasterKey:
        try:
            material = base64.urlsafe_b64decode(text.strip().encode() + b"=" * (-len(text.strip()) % 4))
        except (ValueError, TypeError) as exc:
            raise CredentialError("a master key must be 32 bytes in url-safe base64") from exc
        if len(material) != KEY_BYTES:
            raise CredentialError(f"a master key must be {KEY_BYTES} bytes (got {len(material)})")
        return cls(material)

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    def encoded(self) -> str:
        return base64.urlsafe_b64encode(self.material).decode()


def _aad(tenant_id: str, credential_id: str) -> bytes:
    return f"coinbook/credential/{tenant_id}/{credential_id}".encode()


def seal(credentials: Credentials, key: MasterKey, tenant_id: str, credential_id: str) -> tuple[bytes, bytes]:
    """(nonce, ciphertext) for the credentials, bound to tenant and credential id."""
    plaintext = json.dumps({"api_key": credentials.api_key, "secret": credentials.secret,
                            "password": credentials.password}).encode()
    nonce = secrets.token_bytes(12)
    return nonce, AESGCM(key.material).encrypt(nonce, plaintext, _aad(tenant_id, credential_id))


def unseal(nonce: bytes, ciphertext: bytes, key: MasterKey, tenant_id: str, credential_id: str) -> Credentials:
    try:
        plaintext = AESGCM(key.material).decrypt(nonce, ciphertext, _aad(tenant_id, credential_id))
    except InvalidTag as exc:
        raise CredentialError(f"credential {tenant_id}/{credential_id} does not decrypt with key "
                              f"{key.key_id} (wrong key, or the row was altered or moved)") from exc
    data = json.loads(plaintext)
    return Credentials(data["api_key"], data["secret"], data.get("password"))


# ── where the master keys and Vault are ─────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class KeySources:
    """Where secrets come from: the master key(s) (text, else the key file) and Vault."""

    master_key: str | None = field(default=None, repr=False)
    key_file: Path = Path(".coinbook/master.key")
    vault_addr: str | None = None
    vault_token: str | None = field(default=None, repr=False)
    vault_mount: str = "secret"

    @classmethod
    def from_settings(cls, settings: CoinbookSettings) -> KeySources:
        return cls(settings.master_key.get_secret_value() if settings.master_key else None, settings.key_file,
                   settings.vault_addr, settings.vault_token.get_secret_value() if settings.vault_token else None,
                   settings.vault_mount)


def load_master_keys(sources: KeySources, *, create: bool = False) -> list[MasterKey]:
    """Newest first. COINBOOK_MASTER_KEY wins over the key file; `create` makes a key file when neither exists."""
    text = sources.master_key
    path = sources.key_file
    if not text and path.exists():
        text = path.read_text()
    if not text:
        if not create:
            raise CredentialError(f"no master key: set COINBOOK_MASTER_KEY or create {path} "
                                  "(`coinbook accounts add` makes one)")
        return [_create_key_file(path) or load_master_keys(sources)[0]]
    return [MasterKey.parse(part) for part in text.replace("\n", ",").split(",") if part.strip()]


def _create_key_file(path: Path) -> MasterKey | None:
    """A new key written whole under a temporary name, then linked into place: the file never exists
    half-written, and when two processes race, one key wins (None here: read the winner's)."""
    key = MasterKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.encoded() + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        return None
    finally:
        tmp.unlink(missing_ok=True)
    return key


def key_by_id(keys: Iterable[MasterKey], key_id: str) -> MasterKey:
    for key in keys:
        if key.key_id == key_id:
            return key
    raise CredentialError(f"master key {key_id} is not among the configured keys (was it rotated out?)")


# ── Vault ────────────────────────────────────────────────────────────────────────────────────────────────
def read_vault(path: str, sources: KeySources) -> Credentials:
    if not sources.vault_addr or not sources.vault_token:
        raise CredentialError(f"vault:{path} needs COINBOOK_VAULT_ADDR and COINBOOK_VAULT_TOKEN")
    import hvac  # only when Vault is configured

    client = hvac.Client(url=sources.vault_addr, token=sources.vault_token, timeout=10)
    try:
        response = client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=sources.vault_mount, raise_on_deleted_version=True)
    except Exception as exc:  # hvac raises its own tree; the message must not carry the token
        raise CredentialError(f"vault:{path} could not be read ({type(exc).__name__})") from None
    data = response["data"]["data"]
    if not data.get("api_key") or not data.get("secret"):
        raise CredentialError(f"vault:{path} has no api_key/secret fields")
    return Credentials(str(data["api_key"]), str(data["secret"]), data.get("password"))


def redact(text: str, credentials: Iterable[Credentials]) -> str:
    """Remove every secret (and API key) from a message before it reaches a log or the event log."""
    for c in credentials:
        for value in (c.secret, c.password, c.api_key):
            if value and len(value) >= 6:
                text = text.replace(value, "***")
    return text


# ── the warehouse side ───────────────────────────────────────────────────────────────────────────────────
def store_credential(wh: Warehouse, *, tenant_id: str, credential_id: str, venue: str, credentials: Credentials,
                     key: MasterKey) -> None:
    nonce, ciphertext = seal(credentials, key, tenant_id, credential_id)
    store_sealed_credentials(wh, [(tenant_id, credential_id, venue, key.key_id, nonce, ciphertext,
                                   credentials.api_key[:4])])


def read_credential(wh: Warehouse, *, tenant_id: str, credential_id: str, keys: list[MasterKey]) -> Credentials:
    with wh.connect() as conn:
        row = conn.execute(
            "select key_id, nonce, ciphertext from ops.credentials where tenant_id = %s and credential_id = %s",
            (tenant_id, credential_id),
        ).fetchone()
    if row is None:
        raise CredentialError(f"no stored credential {credential_id!r} for tenant {tenant_id!r}")
    key_id, nonce, ciphertext = row
    return unseal(bytes(nonce), bytes(ciphertext), key_by_id(keys, key_id), tenant_id, credential_id)


def rotate_master_key(wh: Warehouse, keys: list[MasterKey]) -> int:
    """Re-encrypt every credential with keys[0] (the newest), all or none; returns how many rows changed."""
    newest = keys[0]
    with wh.connect() as conn:
        rows = conn.execute("select tenant_id, credential_id, venue, key_id, nonce, ciphertext from ops.credentials "
                            "where key_id <> %s", (newest.key_id,)).fetchall()
    sealed = []
    for tenant_id, credential_id, venue, key_id, nonce, ciphertext in rows:
        plain = unseal(bytes(nonce), bytes(ciphertext), key_by_id(keys, key_id), tenant_id, credential_id)
        new_nonce, new_ciphertext = seal(plain, newest, tenant_id, credential_id)
        sealed.append((tenant_id, credential_id, venue, newest.key_id, new_nonce, new_ciphertext, plain.api_key[:4]))
    return store_sealed_credentials(wh, sealed)


def resolve_credentials(ref: str | None, sandbox_credentials: dict[str, Credentials] | None = None) -> Credentials:
    """A credential named in the environment (``env:NAME``) or published by the sandbox (``sandbox:ACCOUNT``)."""
    if not ref:
        raise CredentialError("the account has no credential_ref")
    scheme, _, name = ref.partition(":")
    if scheme == "env":
        key, secret, password = secret_credentials(name)
        if not key or not secret:
            prefix = secret_prefix(name)
            raise CredentialError(f"{prefix}API_KEY and {prefix}SECRET must be set for credential {ref!r}")
        return Credentials(key, secret, password)
    if scheme == "sandbox":
        if sandbox_credentials is None or name not in sandbox_credentials:
            raise CredentialError(f"the sandbox publishes no keys for {name!r}")
        return sandbox_credentials[name]
    raise CredentialError(f"unknown credential scheme in {ref!r} (use db:, vault:, env:NAME or sandbox:ACCOUNT)")


def resolve_credential_ref(ref: str | None, *, tenant_id: str, database_url: str | None, sources: KeySources,
                           sandbox_credentials: dict[str, Credentials] | None = None) -> Credentials:
    """The account's credentials from whichever store its reference names (see the module docstring)."""
    if not ref:
        raise CredentialError("the account has no credential_ref")
    scheme, _, name = ref.partition(":")
    if scheme == "db":
        if not database_url:
            raise CredentialError(f"{ref!r} needs the warehouse")
        return read_credential(Warehouse(database_url), tenant_id=tenant_id, credential_id=name,
                               keys=load_master_keys(sources))
    if scheme == "vault":
        return read_vault(name, sources)
    return resolve_credentials(ref, sandbox_credentials)
