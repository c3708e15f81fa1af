-- V051: the incremental ledger (dbt_project/macros/incremental_ledger.sql; issue 17 §2) asks each raw table it is
-- booked from for the rows ingested since its last build, and ops.quarantine for the rows quarantined since: a range
-- read of these indexes instead of a scan of every row (1.3M raw rows and their payloads at 1M trades).
do $$
declare
    t text;
begin
    foreach t in array array['binance', 'coinbase', 'kraken', 'bitfinex', 'htx'] loop
        execute format('create index if not exists %I on raw.%I (ingested_at)', t || '_trades_ingested_at', t || '_trades');
        execute format('create index if not exists %I on raw.%I (ingested_at)', t || '_transfers_ingested_at',
                       t || '_transfers');
    end loop;
end $$;
create index if not exists btc_transactions_ingested_at on raw.btc_transactions (ingested_at);
create index if not exists evm_transfers_ingested_at on raw.evm_transfers (ingested_at);
create index if not exists file_records_ingested_at on raw.file_records (ingested_at);
create index if not exists quarantine_quarantined_at on ops.quarantine (quarantined_at);
