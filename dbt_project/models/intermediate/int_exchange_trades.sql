-- Own trades of every venue (one row per venue trade).
{{ union_venues('trades') }}
