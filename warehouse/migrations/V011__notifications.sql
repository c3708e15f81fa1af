-- V011: alerts go out (pipelines/notify.py, apprise), stale prices are an alert (pipelines/freshness.py), and
-- exports keep a cursor (pipelines/assets/exports.py).

-- How old a held asset's latest USD price may get, measured against the market clock (the freshest price
-- seen anywhere), before it raises a stale_price alert. Null keeps the default (60 minutes).
alter table ops.risk_limits add column if not exists stale_price_minutes integer check (stale_price_minutes > 0);

-- A tenant's own notification targets, in addition to the global ones of COINBOOK_NOTIFY_URLS.
-- url is an apprise URL (json://…, mailto://…, slack://…, msteams://…) or env:<VAR>, the name of an
-- environment variable holding one: webhook tokens and mail passwords are secrets, and DESIGN keeps secrets
-- out of the database in plaintext — reference them.
create table if not exists ops.notification_targets (
    tenant_id        text not null,
    target_id        text not null check (target_id ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),  -- a name, e.g. 'risk-desk'
    url              text not null,
    min_severity     text not null default 'warning' check (min_severity in ('info', 'warning', 'critical')),
    kinds            text[],                        -- only these alert kinds; null = every kind
    notify_resolved  boolean not null default true, -- also say when an alert it was told about resolves
    enabled          boolean not null default true,
    created_at       timestamptz not null default now(),
    primary key (tenant_id, target_id)
);

-- Every attempt to send an alert event to a target. A 'sent' row means never again for that
-- (alert, event, target); 'failed' rows are retried on the next evaluation, up to a cap (pipelines/notify.py).
-- target_key identifies the target without its secret (sha256 of the full URL); target is the URL as apprise
-- prints it in privacy mode (passwords and tokens masked), for humans.
create table if not exists ops.alert_notifications (
    notification_id  bigint generated always as identity,
    tenant_id        text not null,
    alert_id         bigint not null,
    event            text not null check (event in ('raised', 'resolved')),
    target_key       text not null,
    target           text not null,
    status           text not null check (status in ('sent', 'failed')),
    error            text,
    attempted_at     timestamptz not null default now(),
    primary key (tenant_id, notification_id),
    foreign key (tenant_id, alert_id) references ops.alerts (tenant_id, alert_id)
);
create index if not exists alert_notifications_by_alert
    on ops.alert_notifications (tenant_id, alert_id, event, target_key);

-- Where an incremental export got to, per exporter, target and stream ('public': operator-level, not a client's).
create table if not exists ops.export_cursors (
    tenant_id    text not null default 'public',
    exporter     text not null,                    -- 'influx'
    target_key   text not null,                    -- sha256 of the target's identity (URL, org, bucket)
    stream       text not null,                    -- 'prices_daily', 'portfolio_risk'
    position     text not null,                    -- the stream's own cursor (a date, a run id)
    exported     bigint not null default 0,        -- points written in total
    updated_at   timestamptz not null default now(),
    primary key (tenant_id, exporter, target_key, stream)
);
