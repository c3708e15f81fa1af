-- Deposits and withdrawals worth more than the tenant's large-transfer threshold (default 10,000 EUR or USD), or
-- that cannot be valued on their day (unvalued: listed, for a person to value, never dropped). A view: a threshold
-- set with `coinbook compliance thresholds set` applies at once.
{{ config(materialized='view') }}
{{ thresholded_transfers('large_amount', 'true') }}
