"""ccxt unified structures → canonical raw rows (one dict per row, keys = raw table columns).

Pure functions: no I/O. The native payload (ccxt's `info`, the venue's own JSON) is kept whole; the typed
columns are parsed from ccxt's unified fields (exchange.number = str, so amounts arrive as exact strings).
"""

from __future__ import annotations

import re
from typing import Any

from pipelines.constants import PUBLIC_TENANT
from pipelines.sources.exchanges.canonical import (
    clean_json,
    clean_text,
    ms_to_datetime,
    record_hash,
    to_decimal,
)

Row = dict[str, Any]

COMMON_COLUMNS = ("tenant_id", "account_id", "source", "source_record_id", "payload", "record_hash", "run_id")

RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    "balances": (*COMMON_COLUMNS, "asset", "free", "used", "total", "observed_at"),
    "trades": (
        *COMMON_COLUMNS, "occurred_at", "symbol", "base_asset", "quote_asset", "side", "price", "quantity",
        "cost", "fee_amount", "fee_asset", "order_id", "is_maker",
    ),
    "transfers": (
        *COMMON_COLUMNS, "transfer_id", "transfer_type", "occurred_at", "asset", "amount", "fee_amount",
        "fee_asset", "status", "network", "address", "txid",
    ),
    "tickers": (
        *COMMON_COLUMNS, "symbol", "base_asset", "quote_asset", "observed_at", "last_price", "bid", "ask",
        "quote_volume",
    ),
    "ohlcv": (
        *COMMON_COLUMNS, "symbol", "base_asset", "quote_asset", "timeframe", "open_time", "open", "high",
        "low", "close", "volume",
    ),
}



def _base(tenant_id: str, account_id: str, source: str, source_record_id: str | None, payload: Any,
          run_id: str | None) -> Row:
    payload = clean_json(payload)
    digest = record_hash(payload)
    return {
        "tenant_id": tenant_id,
        "account_id": account_id,
        "source": source,
        # A record without a venue id is still kept, under its content hash (the gate will say why).
        "source_record_id": clean_text(source_record_id) or f"sha256:{digest}",
        "payload": payload,
        "record_hash": digest,
        "run_id": run_id,
    }


def split_symbol(symbol: Any) -> tuple[str | None, str | None]:
    """'BTC/USDT' (or 'BTC/USDT:USDT' for derivatives) → ('BTC', 'USDT')."""
    text = clean_text(symbol)
    if not text or "/" not in text:
        return None, None
    base, _, rest = text.partition("/")
    quote = rest.split(":", 1)[0]
    return base or None, quote or None


def normalise_balances(balance: dict[str, Any], *, tenant_id: str, account_id: str, source: str,
                       run_id: str | None, fetched_ms: int | None = None) -> list[Row]:
    """One row per asset of a ccxt balance structure, zero balances included (a sold-out asset is a fact).

    The snapshot's identity is the venue's own update time, so an unchanged account adds no rows and a
    changed one adds a full new snapshot (raw stays append-only). Venues that give no time (Kraken,
    Bitfinex, HTX; Binance when its updateTime is 0) are stamped with the fetch time and carry a digest of
    the amounts (`snapshot`): the caller drops a snapshot identical to the last one stored
    (`unchanged_snapshot`).
    """
    info = balance.get("info") or {}
    observed_ms = venue_time_ms(balance.get("timestamp"), info.get("updateTime") if isinstance(info, dict) else None)
    venue_timed = observed_ms is not None
    native_by_asset: dict[str, Any] = {}
    if isinstance(info, dict) and isinstance(info.get("balances"), list):
        for entry in info["balances"]:
            if isinstance(entry, dict) and entry.get("asset"):
                native_by_asset[str(entry["asset"])] = entry
    reserved = {"info", "free", "used", "total", "timestamp", "datetime", "debt"}
    amounts_by_asset = {a: v for a, v in balance.items() if a not in reserved and isinstance(v, dict)}
    snapshot = None
    if not venue_timed:
        observed_ms = fetched_ms
        snapshot = record_hash({a: [str(v.get("free")), str(v.get("used")), str(v.get("total"))]
                                for a, v in sorted(amounts_by_asset.items())})
    rows: list[Row] = []
    for asset, amounts in amounts_by_asset.items():
        native = native_by_asset.get(asset, {"asset": asset, **{k: amounts.get(k) for k in ("free", "used", "total")}})
        payload: dict[str, Any] = {"balance": native, "updateTime": observed_ms}
        if snapshot is not None:
            payload["snapshot"] = snapshot
            if isinstance(info, dict) and info.get("updateTime") is not None:
                payload["venueUpdateTime"] = info["updateTime"]  # as delivered (e.g. 0), though not used
        row = _base(tenant_id, account_id, source, f"{asset}@{observed_ms}", payload, run_id)
        row.update(
            asset=clean_text(asset),
            free=to_decimal(amounts.get("free")),
            used=to_decimal(amounts.get("used")),
            total=to_decimal(amounts.get("total")),
            observed_at=ms_to_datetime(observed_ms),
        )
        rows.append(row)
    return rows


def venue_time_ms(*candidates: Any) -> int | None:
    """The first candidate that is a plausible venue time in epoch ms, or None.

    Binance answers `updateTime: 0` for some account types (ccxt then gives timestamp 0 and keeps the "0"):
    zero, absent or absurd is no venue time. Such a snapshot is stamped with the fetch time instead, else
    every later snapshot would share the key '<asset>@0' and never be stored again.
    """
    for value in candidates:
        try:
            ms = int(value)
        except (TypeError, ValueError):
            continue
        if ms_to_datetime(ms) is not None:
            return ms
    return None


def snapshot_digest(rows: list[Row]) -> str | None:
    """The amounts digest of an untimed balance snapshot (None for venue-timed snapshots)."""
    for row in rows:
        payload = row.get("payload")
        if isinstance(payload, dict) and payload.get("snapshot"):
            return str(payload["snapshot"])
    return None


def _fee(record: dict[str, Any]) -> tuple[Any, Any]:
    fee = record.get("fee")
    if isinstance(fee, dict) and fee.get("cost") is not None:
        return fee.get("cost"), fee.get("currency")
    return None, None


def normalise_trade(trade: dict[str, Any], *, tenant_id: str, account_id: str, source: str,
                    run_id: str | None) -> Row:
    base, quote = split_symbol(trade.get("symbol"))
    trade_id = clean_text(trade.get("id"))
    fee_cost, fee_currency = _fee(trade)
    row = _base(tenant_id, account_id, source,
                f"{trade.get('symbol')}:{trade_id}" if trade_id else None, trade.get("info", trade), run_id)
    taker_or_maker = trade.get("takerOrMaker")
    row.update(
        occurred_at=ms_to_datetime(trade.get("timestamp")),
        symbol=clean_text(trade.get("symbol")),
        base_asset=base,
        quote_asset=quote,
        side=clean_text(trade.get("side")),
        price=to_decimal(trade.get("price")),
        quantity=to_decimal(trade.get("amount")),
        cost=to_decimal(trade.get("cost")),
        fee_amount=to_decimal(fee_cost) if fee_cost is not None else None,
        fee_asset=clean_text(fee_currency),
        order_id=clean_text(trade.get("order")),
        is_maker=None if taker_or_maker is None else taker_or_maker == "maker",
    )
    return row


# Venue status codes ccxt leaves as they are (it maps only the common ones). Anything else stays as given,
# and the quality gate quarantines it with the reason.
VENUE_TRANSFER_STATUS: dict[tuple[str, str], dict[str, str]] = {
    ("binance", "deposit"): {"2": "failed", "7": "failed", "8": "pending"},  # rejected, wrong deposit, waiting
    # Coinbase v2 transaction statuses (docs.cdp.coinbase.com/coinbase-app/track-apis/transactions); ccxt maps
    # only created/completed/canceled. An expired transaction never moved funds.
    ("coinbase", "deposit"): {"expired": "failed", "waiting_for_signature": "pending",
                              "waiting_for_clearing": "pending"},
    ("coinbase", "withdrawal"): {"expired": "failed", "waiting_for_signature": "pending",
                                 "waiting_for_clearing": "pending"},
    ("coinbase", "wallet_out"): {"expired": "failed", "waiting_for_signature": "pending",
                                 "waiting_for_clearing": "pending"},
    ("coinbase", "wallet_in"): {"expired": "failed", "waiting_for_signature": "pending",
                                "waiting_for_clearing": "pending"},
}


def _money(value: Any) -> tuple[Any, str | None]:
    """A Coinbase money hash {"amount": "-0.00133", "currency": "BTC"} → (Decimal or None, currency)."""
    if not isinstance(value, dict):
        return None, None
    return to_decimal(value.get("amount")), clean_text(value.get("currency"))


# What a Coinbase v2 transaction `type` is (docs.cdp.coinbase.com/coinbase-app/track-apis/transactions, "Transaction
# Types"). The list `GET /v2/accounts/:id/transactions` holds every movement of the wallet, fills and rewards
# included, and ccxt (coinbase.py parse_transaction) makes any signed amount a deposit or a withdrawal. So:
#   transfers  in or out of the wallet: deposit / withdrawal by the sign of the wallet's own amount;
#   fills      trades: booked once, from the trades path (fetch_my_trades, Advanced Trade fills), so kept in raw
#              as `fill` and never booked as a transfer. Each Advanced Trade fill appears twice here (one record
#              in the base wallet, one in the quote wallet, the commission on the crypto side only);
#   income     rewards the trades path cannot see: booked as income (acquired at fair value on receipt);
#   wallet     moves between the owner's own accounts at Coinbase (COINBASE_WALLET_TYPES): wallet_out / wallet_in;
#   anything else keeps its type (`coinbase:<type>`) and the gate quarantines it with that reason.
COINBASE_TRANSFER_TYPES = frozenset({"send", "receive", "request", "tx", "fiat_deposit", "fiat_withdrawal"})
COINBASE_FILL_TYPES = frozenset({"advanced_trade_fill", "buy", "sell", "trade"})
# Moves between the owner's own accounts at Coinbase, to the other account they name (wallet_out / wallet_in by the
# sign of the wallet's amount): Coinbase Exchange (formerly Pro), the international exchange, a vault, staking,
# the US futures account's daily cash settlement, and `transfer` ("between two of your own accounts").
COINBASE_WALLET_TYPES = {
    "exchange_deposit": "exchange", "exchange_withdrawal": "exchange", "pro_deposit": "pro",
    "pro_withdrawal": "pro", "intx_deposit": "international", "intx_withdrawal": "international",
    "vault_withdrawal": "vault", "staking_transfer": "staking", "unstaking_transfer": "staking",
    "derivatives_settlement": "derivatives", "transfer": "account"}
COINBASE_INCOME_TYPES = frozenset({"staking_reward", "inflation_reward", "interest", "earn_payout",
                                   "incentives_rewards_payout", "coinbase_earn"})


def coinbase_kind(native_type: Any) -> str | None:
    """The raw table's transfer_type for a Coinbase v2 transaction type (None: not a v2 transaction)."""
    text = clean_text(native_type)
    if text is None:
        return None
    text = text.lower()
    if text in COINBASE_FILL_TYPES:
        return "fill"
    if text in COINBASE_INCOME_TYPES:
        return "income"
    if text in COINBASE_WALLET_TYPES:
        return "wallet"
    return None if text in COINBASE_TRANSFER_TYPES else f"coinbase:{text}"


def coinbase_wallet(tx: dict[str, Any]) -> str:
    """The other account of a Coinbase move between the owner's own accounts ('coinbase:exchange')."""
    info = tx.get("info") if isinstance(tx.get("info"), dict) else {}
    return f"coinbase:{COINBASE_WALLET_TYPES[str(info.get('type')).lower()]}"


def coinbase_amounts(tx: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """(type, amount, fee, fee currency) of a Coinbase v2 transaction, in the raw table's convention: the
    amount that left (or reached) the account net of the fee, and the fee beside it.

    Coinbase's transaction resource carries the account's own debit or credit in `amount` (negative: debit),
    fee included: a send of 0.001 BTC with a 0.00033 network fee shows amount -0.00133, network.transaction_fee
    0.00033 and transaction_amount 0.001 (docs.cdp.coinbase.com/coinbase-app/track-apis/transactions, the send
    example). ccxt (coinbase.py parse_transaction) takes transaction_amount when present, else the gross
    amount, adds the fee again (the fee counted twice), and takes the direction from the sign of what it read
    (the positive transaction_amount makes the documented send a deposit). Here the debit's sign gives the
    direction and net = |debit| − fee when the fee is in the debited currency (as rotki does,
    rotkehlchen/exchanges/coinbase.py); a fee in another currency is not part of this debit (that wallet shows
    its own), so it stays in the payload only.
    """
    info = tx.get("info") if isinstance(tx.get("info"), dict) else {}
    fee_cost, fee_currency = _fee(tx)
    signed, currency = _money(info.get("amount"))
    if info.get("resource") != "transaction" or signed is None or signed == 0:
        return tx.get("type"), tx.get("amount"), fee_cost, fee_currency  # not the transaction resource
    kind = coinbase_kind(info.get("type"))
    if kind == "wallet":  # the same coins, now in (or back from) another account of the owner's: no fee
        return ("wallet_out" if signed < 0 else "wallet_in"), abs(signed), None, None
    if kind == "income" and signed < 0:
        kind = f"coinbase:{str(info.get('type')).lower()}"  # a reward taken back is no income: quarantined
    if kind is not None:
        # the size of this wallet's movement; its direction stays in the payload (a fill's fee is the
        # trade's, read from the trades path)
        return kind, abs(signed), None, None
    if signed > 0:
        return "deposit", signed, fee_cost, fee_currency  # a credit: what reached the account
    network = info.get("network") if isinstance(info.get("network"), dict) else {}
    fee, fee_ccy = _money(network.get("transaction_fee"))
    if fee is None:
        fee, fee_ccy = _money(info.get("fee"))
    if fee is None or fee_ccy != currency:
        return "withdrawal", -signed, None, None
    return "withdrawal", -signed - fee, fee, fee_ccy


def normalise_transfer(tx: dict[str, Any], *, tenant_id: str, account_id: str, source: str,
                       run_id: str | None) -> Row:
    """A deposit or withdrawal. Its status is part of its identity: a pending deposit that later
    completes arrives as a new row (a correction), and staging keeps the latest version per transfer.

    `amount` is what moved net of the fee (a withdrawal's fee is booked beside it, int_ledger); venues whose
    amount includes the fee are brought to that convention here (coinbase_amounts)."""
    transfer_id = clean_text(tx.get("id"))
    kind, amount, fee_cost, fee_currency = (coinbase_amounts(tx) if source == "coinbase"
                                            else (tx.get("type"), tx.get("amount"), *_fee(tx)))
    kind = clean_text(kind)
    status = clean_text(tx.get("status"))
    if status is not None and kind is not None:
        status = VENUE_TRANSFER_STATUS.get((source, kind), {}).get(status, status)
    record_id = f"{kind}:{transfer_id}:{status}" if transfer_id else None
    row = _base(tenant_id, account_id, source, record_id, tx.get("info", tx), run_id)
    row.update(
        transfer_id=transfer_id,
        transfer_type=kind,
        occurred_at=ms_to_datetime(tx.get("timestamp")),
        asset=clean_text(tx.get("currency")),
        amount=to_decimal(amount),
        fee_amount=to_decimal(fee_cost) if fee_cost is not None else None,
        fee_asset=clean_text(fee_currency),
        status=status,
        network=clean_text(tx.get("network")),
        address=(coinbase_wallet(tx) if kind in ("wallet_out", "wallet_in") and source == "coinbase"
                 else clean_text(tx.get("address") or tx.get("addressTo"))),
        txid=clean_text(tx.get("txid")),
    )
    return row


# Binance universal transfer statuses (CONFIRMED / PENDING / FAILED); ccxt maps only CONFIRMED.
WALLET_MOVE_STATUS = {"CONFIRMED": "ok", "PENDING": "pending", "FAILED": "failed"}
SPOT_WALLETS = {"binance": "MAIN"}
# Kraken ledger subtypes of type `transfer` name the entry's own wallet, then the other: spottostaking,
# stakingfromspot, spotfromfutures, … (docs.kraken.com/api/docs/rest-api/get-ledgers)
KRAKEN_SUBTYPE = re.compile(r"^(spot|staking|futures)(to|from)(spot|staking|futures)$")
# Kraken Earn, ledger type `earn` (support.kraken.com "How to interpret Ledger history fields"): allocation,
# autoallocation (Auto Earn), deallocation and migration (legacy staking → Earn) move coins between spot and an
# Earn balance, one entry per balance changed, sharing the refid; the Earn balance has its own code, the coin's
# with a suffix (.B yield-bearing / bonded, .F Auto Earn, .S staked, .M opt-in rewards, .P parachain: docs.kraken.com,
# Get Ledgers Info, "Note on Staking/Earn assets"). A reward (earn / reward, or the older type `staking`) is income.
KRAKEN_EARN_MOVES = frozenset({"allocation", "autoallocation", "deallocation", "migration"})
KRAKEN_EARNING_CODE = re.compile(r"\.[SMFBP]$")


# Bitfinex ledger entries of category 51 (transfer), one per wallet changed, the description in the site's wallet
# names: "Transfer of 184.3 USD from wallet Exchange to Deposit on wallet funding" (Exchange = exchange, Trading =
# margin, Deposit = funding). A sub-account transfer ("… to Exchange SA(acc1->acc2) …") is another account's:
# not matched. docs.bitfinex.com/reference/rest-auth-ledgers
BITFINEX_TRANSFER = re.compile(r"^Transfer of \S+ \S+ from wallet (\w+) to (\w+) on wallet (\w+)$", re.IGNORECASE)
BITFINEX_WALLETS = {"exchange": "exchange", "trading": "margin", "margin": "margin", "deposit": "funding",
                    "funding": "funding", "derivatives": "derivatives"}
# HTX GET /v2/account/ledger (transactTypes=transfer) on the spot account: transferType names the other wallet;
# transactAmt is signed for the spot account. master-/sub-/agency- transfers are between users: not own wallets.
# huobiapi.github.io/docs/spot/v1/en/#get-account-ledger
HTX_TRANSFER = re.compile(r"^(?:dm-spot-to-(swap)|dm-(swap)-to-spot|spot-to-([a-z-]+)|([a-z-]+)-to-spot|"
                          r"(margin|lock|user-lock)-transfer-(?:in|out))$")


def _bitfinex_move(info: Any) -> tuple[str, str] | None:
    entry = info.get("result") if isinstance(info, dict) else info  # ccxt wraps the array as {"result": [...]}
    if not isinstance(entry, list) or len(entry) < 9:
        return None
    found = BITFINEX_TRANSFER.match(clean_text(entry[8]) or "")
    amount = to_decimal(entry[5])
    if found is None or not amount:
        return None
    origin, target = (BITFINEX_WALLETS.get(w.lower()) for w in found.groups()[:2])
    own = (clean_text(entry[2]) or found[3]).lower()
    if own != "exchange" or origin is None or target is None or origin == target:
        return None  # only the exchange wallet's side is read (its balance is the one Coinbook reads)
    return ("wallet_out", f"bitfinex:{target}") if amount < 0 else ("wallet_in", f"bitfinex:{origin}")


def _htx_move(info: dict[str, Any]) -> tuple[str, str] | None:
    found = HTX_TRANSFER.match(clean_text(info.get("transferType")) or "")
    amount = to_decimal(info.get("transactAmt"))
    if info.get("transactType") != "transfer" or found is None or not amount:
        return None
    other = next(g for g in found.groups() if g)
    return ("wallet_out" if amount < 0 else "wallet_in"), f"htx:{other}"


def wallet_move(record: dict[str, Any], source: str) -> tuple[str, str] | None:
    """(transfer_type, other wallet) of a move between the account's own wallets, seen from the wallet whose
    balance Coinbook reads and the record changes — `wallet_out` (to the other) or `wallet_in` (from it) — or
    None when it is not such a move.

    Binance: a universal transfer's `type` is FROM_TO in Binance's wallet names (MAIN_FUNDING, UMFUTURE_MAIN;
    MAIN is spot), developers.binance.com/docs/wallet/asset/query-user-universal-transfer.
    Kraken: one ledger entry per wallet changed, signed; the subtype names both wallets (see KRAKEN_SUBTYPE).
    Bitfinex: one ledger entry per wallet changed, signed; the description names both (BITFINEX_TRANSFER).
    HTX: the spot account's ledger, signed; transferType names the other wallet (HTX_TRANSFER).
    """
    info = record.get("info") if isinstance(record.get("info"), dict) else record
    if source == "bitfinex":
        return _bitfinex_move(info)
    if source == "htx":
        return _htx_move(info)
    if source == "kraken":
        subtype = clean_text(info.get("subtype")) or ""
        found = KRAKEN_SUBTYPE.match(subtype)
        amount = to_decimal(info.get("amount"))
        direction = "wallet_out" if amount is not None and amount < 0 else "wallet_in"
        if info.get("type") == "earn" and subtype in KRAKEN_EARN_MOVES and amount:
            # the Earn balance's own entry (DOT.B) moves from or to spot; the spot entry (DOT) to or from Earn
            earning = KRAKEN_EARNING_CODE.search(clean_text(info.get("asset")) or "")
            return direction, "kraken:spot" if earning else "kraken:earn"
        if info.get("type") != "transfer" or found is None or found[1] == found[3] or not amount:
            return None
        return direction, f"kraken:{found[3]}"
    spot = SPOT_WALLETS.get(source)
    origin, _, target = (clean_text(info.get("type")) or "").partition("_")
    if spot is None or not target:
        return None
    if origin == spot and target != spot:
        return "wallet_out", f"{source}:{target.lower()}"
    if target == spot and origin != spot:
        return "wallet_in", f"{source}:{origin.lower()}"
    return None


def kraken_reward(record: dict[str, Any]) -> str | None:
    """The transfers row's type for a Kraken ledger entry that is an Earn or staking reward: `income` when it
    credits the account, `kraken:<type>_<subtype>` (quarantined by the gate, with that reason) when it debits it;
    None when the entry is no reward."""
    info = record.get("info") if isinstance(record.get("info"), dict) else record
    kind, subtype = clean_text(info.get("type")), clean_text(info.get("subtype")) or ""
    if not ((kind == "earn" and subtype == "reward") or kind == "staking"):
        return None
    amount = to_decimal(info.get("amount"))
    return "income" if amount is not None and amount > 0 else f"kraken:{kind}_{subtype}".rstrip("_")


def normalise_wallet_move(record: dict[str, Any], *, tenant_id: str, account_id: str, source: str,
                          run_id: str | None) -> Row | None:
    """A move between the account's own wallets on one venue, as a transfers row: `transfer_type` wallet_out /
    wallet_in, `address` the other wallet ('binance:funding'), amount > 0, no fee; `txid` the venue's reference
    shared by the entries of one move (Kraken's refid: both sides when both wallets are read). A Kraken Earn
    reward read with them is an `income` row (amount: what the balance gained, net of Kraken's fee column).
    None: neither (a ledger entry of another kind)."""
    reward = kraken_reward(record) if source == "kraken" else None
    if reward is not None:
        return _kraken_reward_row(record, reward, tenant_id=tenant_id, account_id=account_id, run_id=run_id)
    kind = wallet_move(record, source)
    if kind is None:
        return None
    info = record.get("info") if isinstance(record.get("info"), dict) else record
    transfer_id = clean_text(record.get("id") or info.get("tranId"))
    if source == "htx" and transfer_id in (None, "0"):
        # HTX's transactId is 0 in its own examples: the entry's time, kind and amount identify it instead
        transfer_id = ":".join(str(info.get(k)) for k in ("transactTime", "transferType", "currency", "transactAmt"))
    raw_status = clean_text(info.get("status")) or clean_text(record.get("status"))
    # a ledger entry (Kraken, Bitfinex, HTX) is a balance change already made: no status of its own
    status = WALLET_MOVE_STATUS.get(raw_status or "", raw_status) or "ok"
    row = _base(tenant_id, account_id, source, f"{kind[0]}:{transfer_id}:{status}" if transfer_id else None,
                info, run_id)
    # the venue's own figure (ccxt's may be a float); Bitfinex's entry is an array: AMOUNT at index 5
    native = info["result"][5] if source == "bitfinex" else info.get("transactAmt") if source == "htx" else None
    amount = to_decimal(native if native is not None else
                        record.get("amount") if record.get("amount") is not None else info.get("amount"))
    row.update(
        transfer_id=transfer_id,
        transfer_type=kind[0],
        occurred_at=ms_to_datetime(record.get("timestamp") or info.get("timestamp")),
        asset=clean_text(record.get("currency") or info.get("asset")),
        amount=abs(amount) if amount is not None else None,
        fee_amount=None,
        fee_asset=None,
        status=status,
        network=None,
        address=kind[1],
        txid=clean_text(info.get("refid")),
    )
    return row


def _kraken_reward_row(record: dict[str, Any], kind: str, *, tenant_id: str, account_id: str,
                       run_id: str | None) -> Row:
    info = record.get("info") if isinstance(record.get("info"), dict) else record
    transfer_id = clean_text(record.get("id"))
    row = _base(tenant_id, account_id, "kraken", f"{kind}:{transfer_id}:ok" if transfer_id else None, info, run_id)
    amount, fee = to_decimal(info.get("amount")), to_decimal(info.get("fee")) or 0
    row.update(
        transfer_id=transfer_id, transfer_type=kind,
        occurred_at=ms_to_datetime(record.get("timestamp")),
        asset=clean_text(record.get("currency") or info.get("asset")),
        # balance = old balance + amount − fee (Kraken's ledger rule): the income is what the balance gained
        amount=abs(amount - fee) if amount is not None else None,
        fee_amount=None, fee_asset=None, status="ok", network=None, address=None,
        txid=clean_text(info.get("refid")),
    )
    return row


def normalise_ticker(ticker: dict[str, Any], *, source: str, run_id: str | None,
                     fetched_ms: int | None = None) -> Row:
    """A ticker is identified by the venue's time. Venues that give none (Kraken, Bitfinex) are identified by
    their quote instead and stamped with the fetch time: an unchanged quote adds no row."""
    symbol = clean_text(ticker.get("symbol"))
    base, quote = split_symbol(symbol)
    ts = ticker.get("timestamp")
    record_id = f"{symbol}@{ts}"
    if ts is None and fetched_ms is not None:
        quote_digest = record_hash([str(ticker.get(k)) for k in ("last", "close", "bid", "ask")])[:16]
        record_id, ts = f"{symbol}@q:{quote_digest}", fetched_ms
    row = _base(PUBLIC_TENANT, PUBLIC_TENANT, source, record_id, ticker.get("info", ticker), run_id)
    row.update(
        symbol=symbol,
        base_asset=base,
        quote_asset=quote,
        observed_at=ms_to_datetime(ts),
        last_price=to_decimal(ticker.get("last") if ticker.get("last") is not None else ticker.get("close")),
        bid=to_decimal(ticker.get("bid")),
        ask=to_decimal(ticker.get("ask")),
        quote_volume=to_decimal(ticker.get("quoteVolume")),
    )
    return row


def normalise_candle(candle: list[Any], native: Any, *, symbol: str, timeframe: str, source: str,
                     run_id: str | None) -> Row:
    """A ccxt OHLCV row [t, o, h, l, c, v]; `native` is the venue's own kline when it could be matched."""
    base, quote = split_symbol(symbol)
    open_ms = candle[0] if candle else None
    row = _base(PUBLIC_TENANT, PUBLIC_TENANT, source, f"{symbol}:{timeframe}:{open_ms}",
                native if native is not None else candle, run_id)
    values = [*list(candle[1:6]), None, None, None, None, None][:5]
    row.update(
        symbol=symbol,
        base_asset=base,
        quote_asset=quote,
        timeframe=timeframe,
        open_time=ms_to_datetime(open_ms),
        open=to_decimal(values[0]),
        high=to_decimal(values[1]),
        low=to_decimal(values[2]),
        close=to_decimal(values[3]),
        volume=to_decimal(values[4]),
    )
    return row


def as_tuples(rows: list[Row], entity: str) -> list[tuple[Any, ...]]:
    columns = RAW_COLUMNS[entity]
    return [tuple(row.get(c) for c in columns) for row in rows]
