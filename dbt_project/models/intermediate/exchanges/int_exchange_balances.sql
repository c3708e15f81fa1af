-- Exchange-reported balance snapshots of every venue.
{{ union_venues('balances') }}
