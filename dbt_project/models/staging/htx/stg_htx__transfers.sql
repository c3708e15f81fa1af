-- Htx transfers, typed and unified; quarantined rows excluded (macros/exchange_staging.sql).
{{ stg_exchange_transfers('htx') }}
