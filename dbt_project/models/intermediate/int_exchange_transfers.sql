-- Deposits and withdrawals of every venue, latest state per venue transfer.
{{ union_venues('transfers') }}
