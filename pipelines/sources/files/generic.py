"""Coinbook's generic import template (generic), documented in TEMPLATE.md.

timestamp,type,base_asset,base_quantity,quote_asset,quote_quantity,fee_asset,fee_quantity,record_id,txid,note
The first four columns are required in the header; the others may be left out. Timestamps must carry their
zone; a naive one is read in `default_timezone` when the caller gives one, never guessed.
"""

from __future__ import annotations

from pipelines.sources.files.records import (
    INCOME_KINDS,
    Header,
    ImportedRecord,
    Options,
    ParseResult,
    Reader,
    Row,
    RowError,
    divide,
    parse_asset,
    parse_decimal,
    parse_time,
    run_rows,
)

FORMAT = "generic"
COLUMNS = ("timestamp", "type", "base_asset", "base_quantity", "quote_asset", "quote_quantity", "fee_asset",
           "fee_quantity", "record_id", "txid", "note")
REQUIRED = COLUMNS[:4]
TYPES = ("buy", "sell", "deposit", "withdrawal", "income", "fee")
MISSING_ZONE = "timestamp '{text}' has no time zone (add an offset or pass --timezone)"


def matches(keys: tuple[str, ...]) -> bool:
    return all(k in keys for k in REQUIRED)


def parse(lines: list[str], header: Header, options: Options) -> ParseResult:
    col = {name: header.find(name) for name in COLUMNS}

    def handle(row: Row) -> ImportedRecord:
        occurred = parse_time(row.get(col["timestamp"]), "timestamp", naive=options.default_tz,
                              missing_zone=MISSING_ZONE, now=options.now)
        type_text = row.get(col["type"])
        kind, _, income_kind = type_text.lower().partition(":")
        if kind not in TYPES:
            raise RowError(f"type: '{type_text}' is not one of {', '.join(TYPES)} (income may be income:<kind>)")
        if income_kind and kind != "income":
            raise RowError(f"type: '{type_text}': only income takes a kind")
        if kind == "income" and (income_kind or "other") not in INCOME_KINDS:
            raise RowError(f"type: income kind '{income_kind}' is not one of {', '.join(INCOME_KINDS)}")
        asset = parse_asset(row.get(col["base_asset"]), "base_asset")
        quantity = parse_decimal(row.get(col["base_quantity"]), "base_quantity")
        assert quantity is not None
        fee = parse_decimal(row.get(col["fee_quantity"]), "fee_quantity", sign="nonnegative", required=False)
        fee_asset_text = row.get(col["fee_asset"])
        fee_asset = parse_asset(fee_asset_text, "fee_asset") if fee_asset_text else None
        if fee is not None and fee_asset is None:
            raise RowError("fee_asset: empty while fee_quantity is given")
        if fee_asset is not None and fee is None:
            raise RowError("fee_quantity: empty while fee_asset is given")
        common = {"lines": (row.line,), "occurred_at": occurred, "fee_amount": fee, "fee_asset": fee_asset,
                  "venue_record_id": row.get(col["record_id"]) or None, "txid": row.get(col["txid"]) or None,
                  "payload": row.payload}
        if kind in ("buy", "sell"):
            quote = parse_asset(row.get(col["quote_asset"]), "quote_asset")
            cost = parse_decimal(row.get(col["quote_quantity"]), "quote_quantity")
            assert cost is not None
            if quote == asset:
                raise RowError(f"quote_asset: '{quote}' is the same as base_asset")
            return ImportedRecord(record_type="trade", base_asset=asset, quote_asset=quote, side=kind,
                                  quantity=quantity, cost=cost, price=divide(cost, quantity, "price"), **common)
        for name in ("quote_asset", "quote_quantity"):
            if row.get(col[name]):
                raise RowError(f"{name}: must be empty for a {kind} (only buy and sell have a quote side)")
        return ImportedRecord(record_type=kind, asset=asset, amount=quantity,
                              income_kind=(income_kind or "other") if kind == "income" else None, **common)

    return run_rows(FORMAT, Reader(lines, header), handle)
