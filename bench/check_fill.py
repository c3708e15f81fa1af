"""Does bench/fill_raw.py build the warehouse the HTTP sync builds? The same world both ways, then per table the row
count and an md5 of its rows, side by side; exit status 1 when any differs.

    .venv/bin/python -m bench.check_fill                       # demo: both built here (two scratch databases)
    .venv/bin/python -m bench.check_fill --fill-database fill_ab12cd34 --http-database bench_cd34ef56

Compared: the exchange raw tables the fill writes (trades and transfers: every row's source id and content hash;
balances: the count, their rows carry the fetch time) and the main marts: ledger (every column), positions and
reconciliation without the columns that are the clock's (as_of, prices of 'now', reported_at, a DeFi
position's last movement: the time it was read); ops.quarantine. Both builds take
the malformed sandbox (`bench_reads`' and `fill_raw`'s default), so the quarantine path is compared too.
"""

from __future__ import annotations

import argparse
import sys

import psycopg

from bench.bench_reads import build_world
from bench.fill_raw import build
from bench.scratch import scratch_world
from pipelines.services.venues import SEED_VENUES
from pipelines.settings import get_settings
from sandbox.world import Scale
from warehouse.cluster import LocalCluster

# table → the row expression hashed, ordered by itself
MARTS = {
    "marts.ledger": "t::text",
    "marts.positions": "concat_ws('|', tenant_id, portfolio_id, account_id, account_kind, venue, asset, protocol, "
                       "position_type, quantity, case when account_kind <> 'defi' then last_movement_at end)",
    "marts.reconciliation": "concat_ws('|', tenant_id, portfolio_id, account_id, asset, reported_quantity, "
                            "computed_quantity, difference, tolerance, status)",
    "ops.quarantine": "concat_ws('|', tenant_id, account_id, source, raw_table, source_record_id, record_hash, "
                      "check_name, reason)",
}


def checked() -> dict[str, str]:
    tables = {f"raw.{v}_{e}": "concat_ws('|', tenant_id, account_id, source_record_id, record_hash)"
              for v in SEED_VENUES for e in ("trades", "transfers")}
    tables |= {f"raw.{v}_balances": "''" for v in SEED_VENUES}
    return tables | MARTS


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    out = {}
    with psycopg.connect(url) as conn:
        for table, row in checked().items():
            count, digest = conn.execute(
                f"select count(*), md5(coalesce(string_agg(r, E'\\n' order by r), '')) "
                f"from (select {row} as r from {table} t) s").fetchone()  # type: ignore[misc]
            out[table] = (count, digest)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.check_fill", description=__doc__.split("\n\n")[0])
    parser.add_argument("scale", nargs="?", default="demo")
    parser.add_argument("--fill-database", help="a database fill_raw built (kept) instead of building one")
    parser.add_argument("--http-database", help="a database the HTTP sync built (bench_reads --keep)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    settings = get_settings()
    cluster = LocalCluster(settings.home, settings.pg_port)
    cluster.up()
    scale = Scale.parse(args.scale)
    prints: dict[str, dict[str, tuple[int, str]]] = {}
    for label, given, builder in (("http", args.http_database, build_world), ("fill", args.fill_database, build)):
        if given:
            prints[label] = fingerprint(cluster.admin_url(given))
            continue
        # each world in a scratch database of its own (bench/scratch.py), fingerprinted before it is dropped
        with scratch_world(malformed=True, scale=scale, keep=args.keep) as scratch:
            print(f"building {scale.label} by {label} into {scratch.name} …", flush=True)
            builder(scratch)
            prints[label] = fingerprint(cluster.admin_url(scratch.name))
        if args.keep:
            print(f"database kept: {scratch.name}")
    http, fill = prints["http"], prints["fill"]
    print("\n| table | http rows | fill rows | same md5 |\n|---|---:|---:|---|")
    differs = 0
    for table in checked():
        same = http[table] == fill[table]
        differs += not same
        print(f"| {table} | {http[table][0]:,} | {fill[table][0]:,} | {'yes' if same else '**NO**'} |")
    print(f"\n{len(checked()) - differs} of {len(checked())} tables equal" + ("" if not differs else ": DIFFERENT"))
    return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())
