-- V052: the quality gate validates only the rows ingested after its last verdict when the rows that verdict saw
-- are unchanged (expectations/gate.py; issue 17 §2: at 1M trades a day's 2,000 new rows cost 41 s of whole-table
-- validation). A verdict now keeps what an increment needs:
--   frame              sha256 of the suite, the limits and the table's columns (the signature less the content);
--   validated_through  when the validation began: the rows ingested by then are the ones it judged;
--   through_digest     warehouse.digest of those rows (count and sum of row hashes): equal on a later run means
--                      none of them changed, was deleted or arrived late, so only the newer rows need validating.
alter table ops.gate_verdicts add column if not exists frame text;
alter table ops.gate_verdicts add column if not exists validated_through timestamptz;
alter table ops.gate_verdicts add column if not exists through_digest text;

-- the newer rows of every gated raw table are found by a range read (V051 indexed the trades and transfers)
do $$
declare
    t text;
begin
    foreach t in array array['binance', 'coinbase', 'kraken', 'bitfinex', 'htx'] loop
        execute format('create index if not exists %I on raw.%I (ingested_at)', t || '_balances_ingested_at',
                       t || '_balances');
        execute format('create index if not exists %I on raw.%I (ingested_at)', t || '_ohlcv_ingested_at', t || '_ohlcv');
        execute format('create index if not exists %I on raw.%I (ingested_at)', t || '_tickers_ingested_at',
                       t || '_tickers');
    end loop;
end $$;
create index if not exists btc_balances_ingested_at on raw.btc_balances (ingested_at);
create index if not exists evm_balances_ingested_at on raw.evm_balances (ingested_at);
create index if not exists defi_positions_ingested_at on raw.defi_positions (ingested_at);
