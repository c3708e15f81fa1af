"""Ledger Live "operations" export (ledger_live).

Columns: Operation Date,Status,Currency Ticker,Operation Type,Operation Amount,Operation Fees,Operation Hash,
Account Name,Account xpub,Countervalue Ticker,Countervalue at Operation Date,Countervalue at CSV Export
(older exports lack Status). Dates are ISO 8601 with 'Z'. Amounts are unsigned; the type gives the direction.
Operation types: Ledger Live's OperationType (LedgerHQ/ledger-live libs/ledgerjs/packages/types-live
src/operation.ts): IN, OUT, FEES, REWARD, REWARD_PAYOUT (Polkadot), staking management (DELEGATE, UNDELEGATE,
REDELEGATE; BOND, UNBOND, WITHDRAW_UNBONDED, NOMINATE, CHILL, SET_CONTROLLER; STAKE, UNSTAKE, WITHDRAW_UNSTAKED;
FREEZE, UNFREEZE, VOTE; LOCK, UNLOCK), account set-up (OPT_IN, OPT_OUT, REVEAL, APPROVE), NFT_IN, NFT_OUT,
SLASH. Bonded, delegated, staked or frozen coins stay the account's (Ledger Live counts them in its balance), so
those operations move only their network fee; BittyTax (src/bittytax/conv/parsers/ledgerlive.py) books them so too.
"""

from __future__ import annotations

from decimal import Decimal

from pipelines.sources.files.records import (
    Header,
    Ignore,
    ImportedRecord,
    Options,
    ParseResult,
    Reader,
    Row,
    RowError,
    parse_asset,
    parse_decimal,
    parse_time,
    run_rows,
)

FORMAT = "ledger_live"
_REQUIRED = ("operation date", "currency ticker", "operation type", "operation amount", "operation fees",
             "operation hash")
MISSING_ZONE = "{column}: '{text}' has no time zone (Ledger Live writes ISO 8601 with 'Z')"
# Operations that only pay a network fee (staking management, account opt-ins): a fee record if one was paid.
# Their Operation Amount (when it is more than the fee: the coins bonded or staked) stays in the account.
_FEE_ONLY = {"DELEGATE", "UNDELEGATE", "REDELEGATE", "OPT_IN", "OPT_OUT", "REVEAL", "APPROVE", "BOND", "UNBOND",
             "WITHDRAW_UNBONDED", "NOMINATE", "CHILL", "SET_CONTROLLER", "STAKE", "UNSTAKE", "WITHDRAW_UNSTAKED",
             "FREEZE", "UNFREEZE", "WITHDRAW_EXPIRE_UNFREEZE", "UNDELEGATE_RESOURCE", "LEGACY_UNFREEZE", "VOTE",
             "LOCK", "UNLOCK"}
_REWARDS = {"REWARD", "STAKING_REWARD", "REWARD_PAYOUT"}
# An NFT moved in or out: not a fungible holding. The network fee of an NFT the user sent is its own FEES line
# (Ledger Live lists the transaction's fee operation and the NFT operation under the same hash).
_NFT = {"NFT_IN", "NFT_OUT"}
_SENT_BY_USER = {"OUT", "FEES", *_FEE_ONLY}  # operations whose fee the user paid


def matches(keys: tuple[str, ...]) -> bool:
    return all(k in keys for k in _REQUIRED)


def parse(lines: list[str], header: Header, options: Options) -> ParseResult:
    col = {name: header.find(name) for name in (*_REQUIRED, "status")}

    def handle(row: Row) -> ImportedRecord:
        kind = row.get(col["operation type"]).upper()
        status = row.get(col["status"])  # '' when the export has no Status column
        occurred = parse_time(row.get(col["operation date"]), "Operation Date", naive=None,
                              missing_zone=MISSING_ZONE, now=options.now)
        asset = parse_asset(row.get(col["currency ticker"]), "Currency Ticker")
        amount = parse_decimal(row.get(col["operation amount"]), "Operation Amount", sign="nonnegative")
        fees = parse_decimal(row.get(col["operation fees"]), "Operation Fees", sign="nonnegative",
                             required=False) or Decimal(0)
        assert amount is not None
        txid = row.get(col["operation hash"]) or None
        common = {"lines": (row.line,), "occurred_at": occurred, "asset": asset, "txid": txid,
                  "payload": row.payload}
        if status and status.lower() != "confirmed":
            # A failed transaction the user sent still paid its network fee (an Ethereum transaction that
            # reverts burns its gas), so that fee is recorded; nothing else of it happened.
            if status.lower() == "failed" and kind in _SENT_BY_USER and fees > 0:
                return ImportedRecord(record_type="fee", amount=fees, **common)
            raise Ignore(f"status '{status}': the operation did not take effect")
        if kind == "IN":
            # The fee of an incoming operation was paid by its sender; it is kept in the payload only.
            return ImportedRecord(record_type="deposit", amount=_positive(amount, row), **common)
        if kind == "OUT":
            # Ledger Live's Operation Amount of an OUT is what left the account: the amount sent plus the
            # network fee (its operation `value` includes the fee, which is why an OUT of 0.01 BTC with a
            # 0.0001 fee shows 0.0101). The canonical amount excludes the fee, so it is subtracted.
            sent = amount - fees
            if sent < 0:
                raise RowError(f"Operation Amount: {amount} is less than its Operation Fees {fees} "
                               "(an OUT's amount includes its fee)")
            if sent == 0:  # only the fee left the account (e.g. a contract call with no value)
                return ImportedRecord(record_type="fee", amount=_positive(fees, row), **common)
            return ImportedRecord(record_type="withdrawal", amount=sent, fee_amount=fees, fee_asset=asset, **common)
        if kind == "FEES":
            return ImportedRecord(record_type="fee", amount=_positive(fees if fees > 0 else amount, row), **common)
        if kind in _NFT:
            raise Ignore(f"{kind}: NFTs are not in the ledger (the fee of an NFT sent is its FEES line)")
        if kind == "SLASH":  # stake taken by the network for a validator's fault: a loss of the coins
            return ImportedRecord(record_type="fee", amount=_positive(amount, row), **common)
        if kind in _REWARDS:
            return ImportedRecord(record_type="income", income_kind="staking", amount=_positive(amount, row),
                                  fee_amount=fees if fees > 0 else None, fee_asset=asset if fees > 0 else None,
                                  **common)
        if kind in _FEE_ONLY:
            if fees > 0:
                return ImportedRecord(record_type="fee", amount=fees, **common)
            raise Ignore(f"{kind} without a fee changes no balance")
        raise RowError(f"Operation Type: '{row.get(col['operation type'])}' is not supported (known: IN, OUT, "
                       f"FEES, SLASH, {', '.join(sorted(_REWARDS | _NFT | _FEE_ONLY))})")

    return run_rows(FORMAT, Reader(lines, header), handle)


def _positive(value: Decimal, row: Row) -> Decimal:
    if value <= 0:
        raise RowError(f"Operation Amount: '{row.get(row.header.find('operation amount'))}' must be positive")
    return value
