-- V046: API usage per request budget, not only per venue (issue 17 §4 observability). Kraken, Coinbase and HTX
-- count signed calls per API key, and each key has its own budget in the clients since stop 24
-- (venues.private_budget_scope): a venue-wide peak minute no longer says how close one key is to its limit.
-- `budget` names the allowance the calls were charged to: 'venue' (the venue-wide one: public calls, and every
-- call of the venues that count per IP) or 'key:<account_id>' (one account's key). Existing rows are 'venue'.
alter table ops.api_usage add column if not exists budget text not null default 'venue';
alter table ops.api_usage drop constraint if exists api_usage_pkey;
alter table ops.api_usage add primary key (tenant_id, venue, budget, minute);
