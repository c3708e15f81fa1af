-- Kraken balances, typed and unified; quarantined rows excluded (macros/exchange_staging.sql).
{{ stg_exchange_balances('kraken') }}
