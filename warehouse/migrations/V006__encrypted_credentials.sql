-- V006: API credentials encrypted at rest (AES-256-GCM, key outside the database; pipelines/credentials.py).
-- The ciphertext is bound to (tenant_id, credential_id) as associated data: a row copied to another tenant
-- or renamed does not decrypt. Accounts refer to a row as credential_ref = 'db:<credential_id>'.
create table if not exists ops.credentials (
    tenant_id      text not null references ops.tenants (tenant_id),
    credential_id  text not null check (credential_id ~ '^[a-z0-9][a-z0-9_.-]{0,126}$'),
    venue          text not null,
    key_id         text not null,                 -- which master key encrypted it (sha256 prefix; for rotation)
    nonce          bytea not null,
    ciphertext     bytea not null,
    api_key_hint   text not null,                 -- first 4 characters, to recognise the key in the UI
    created_at     timestamptz not null default now(),
    rotated_at     timestamptz,
    primary key (tenant_id, credential_id)
);
