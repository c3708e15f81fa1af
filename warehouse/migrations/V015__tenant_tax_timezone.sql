-- V015: the time zone a tenant's tax year is taken in (coinbook report tax). A sale at 23:30 on 31 December in
-- New York is 04:30 UTC on 1 January: it belongs to a New York tenant's old year, and its form shows 12/31.
-- Null: COINBOOK_TAX_TIMEZONE decides (default UTC). An IANA name; PostgreSQL refuses one it does not know.
alter table ops.tenants add column if not exists tax_timezone text
    check (tax_timezone is null or (timestamptz '2000-01-01 00:00+00' at time zone tax_timezone) is not null);
