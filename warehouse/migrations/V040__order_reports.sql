-- V040: what the venues answered about the orders of approved proposals (issue 18 §1, execution).
--
--   ops.order_reports   per order of a proposal, each time the send step placed or looked it up: the venue's order id,
--                       its status, what filled (amount, average price, cost, fee) or why the venue refused it. The
--                       latest report of an order is its state. Append-only and chained, like the proposal's events.
--
-- The fills themselves are NOT booked from here: they come back as trades through the normal trade sync (raw.<venue>
-- _trades carry the venue's order id), so a fill is counted once. A report links its order to those trades by
-- (account_id, venue_order_id).

insert into ops.relation_readers (schema_name, relation_name, readers, writers, why) values
    ('ops', 'order_reports', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'managers read what became of the orders they approved (V040)')
on conflict do nothing;
insert into audit.chained_tables (schema_name, table_pattern, chained_by, append_only, why) values
    ('ops', 'order\_reports', 'statement', true, 'what the venues answered to the orders sent (V040)')
on conflict do nothing;

create table if not exists ops.order_reports (
    tenant_id        text not null,
    report_id        bigint generated always as identity,
    proposal_id      text not null,
    order_index      integer not null,
    account_id       text not null,
    client_order_id  text not null,
    venue_order_id   text,                                 -- null when the venue refused the order
    status           text not null check (status in ('open', 'closed', 'canceled', 'expired', 'refused')),
    filled           numeric(38, 18) not null default 0 check (filled >= 0),
    average_price    numeric(38, 18),
    cost             numeric(38, 18),
    fee              numeric(38, 18),
    fee_asset        text,
    reason           text,                                 -- the venue's refusal, as it worded it
    payload          jsonb,                                -- the venue's own answer (ccxt's `info`)
    reported_at      timestamptz not null default clock_timestamp(),
    primary key (tenant_id, report_id),
    foreign key (tenant_id, proposal_id, order_index) references ops.rebalance_orders (tenant_id, proposal_id,
                                                                                      order_index),
    check ((status = 'refused') = (venue_order_id is null)),
    check (status <> 'refused' or reason is not null)
);
create index if not exists order_reports_by_order on ops.order_reports (tenant_id, proposal_id, order_index,
                                                                        report_id);
create index if not exists order_reports_by_venue_order on ops.order_reports (tenant_id, account_id, venue_order_id);

select ops.secure_relation('ops.order_reports'), audit.protect('ops.order_reports');
