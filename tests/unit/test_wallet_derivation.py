"""Watch-only wallets: BIP32 derivation against the published test vectors (BIP32, BIP44/49/84 with the
"abandon … about" mnemonic), SLIP-132 key versions, gap-limit discovery, bech32 (BIP173), EIP-55, and the
wallet's view of a transaction (change is not a disposal)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipelines.sources.chains.abi import checksum_address, selector
from pipelines.sources.chains.bitcoin import wallet_view
from pipelines.sources.chains.evm import transfer_rows
from pipelines.sources.chains.hd import (
    HARDENED,
    InvalidKey,
    address_script_type,
    decode_segwit_address,
    derive_addresses,
    discover,
    master_key,
    mnemonic_to_seed,
    parse_extended_key,
)

# BIP32 test vector 1 (bitcoin/bips, bip-0032.mediawiki)
V1_SEED = "000102030405060708090a0b0c0d0e0f"
V1 = {
    "m": ("xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8",
          "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"),
    "m/0h": ("xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
             "xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUxt4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7"),
    "m/0h/1": ("xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ",
               "xprv9wTYmMFdV23N2TdNG573QoEsfRrWKQgWeibmLntzniatZvR9BmLnvSxqu53Kw1UmYPxLgboyZQaXwTCg8MSY3H2EU4pWcQDnRnrVA1xe8fs"),
    "m/0h/1/2h": ("xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
                  "xprv9z4pot5VBttmtdRTWfWQmoH1taj2axGVzFqSb8C9xaxKymcFzXBDptWmT7FwuEzG3ryjH4ktypQSAewRiNMjANTtpgP4mLTj34bhnZX7UiM"),
    "m/0h/1/2h/2": ("xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
                    "xprvA2JDeKCSNNZky6uBCviVfJSKyQ1mDYahRjijr5idH2WwLsEd4Hsb2Tyh8RfQMuPh7f7RtyzTtdrbdqqsunu5Mm3wDvUAKRHSC34sJ7in334"),
    "m/0h/1/2h/2/1000000000": ("xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy",
                               "xprvA41z7zogVVwxVSgdKUHDy1SKmdb533PjDz7J6N6mV6uS3ze1ai8FHa8kmHScGpWmj4WggLyQjgPie1rFSruoUihUZREPSL39UNdE3BBDu76"),
}
# BIP32 test vector 2
V2_SEED = ("fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c69"
           "6663605d5a5754514e4b484542")
V2_LEAF = ("m/0/2147483647h/1/2147483646h/2",
           "xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt")
MNEMONIC = "abandon " * 11 + "about"
# BIP84 / BIP49 / BIP44 account 0 of that mnemonic, as the BIPs publish them, with their first addresses.
ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
YPUB = "ypub6Ww3ibxVfGzLrAH1PNcjyAWenMTbbAosGNB6VvmSEgytSER9azLDWCxoJwW7Ke7icmizBMXrzBx9979FfaHxHcrArf3zbeJJJUZPf663zsP"
XPUB = "xpub6BosfCnifzxcFwrSzQiqu2DBVTshkCXacvNsWGYJVVhhawA7d4R5WSWGFNbi8Aw6ZRc1brxMyWMzG3DSSSSoekkudhUd9yLb6qx39T9nMdj"


@pytest.mark.parametrize("path", list(V1))
def test_bip32_vector_1(path: str) -> None:
    key = master_key(bytes.fromhex(V1_SEED)).derive(path)
    xpub, xprv = V1[path]
    assert key.serialize(private=True) == xprv
    assert key.neutered().serialize() == xpub


def test_bip32_public_derivation_matches_private_from_an_xpub_alone() -> None:
    parent = parse_extended_key(V1["m/0h/1/2h"][0])  # watch-only: no private key
    assert parent.private_key is None
    assert parent.child(2).serialize() == V1["m/0h/1/2h/2"][0]
    assert parent.derive("2/1000000000").serialize() == V1["m/0h/1/2h/2/1000000000"][0]
    with pytest.raises(InvalidKey, match="hardened"):
        parent.child(HARDENED)


def test_bip32_vector_2_with_hardened_indexes_near_the_top() -> None:
    path, xpub = V2_LEAF
    assert master_key(bytes.fromhex(V2_SEED)).derive(path).neutered().serialize() == xpub


@pytest.mark.parametrize(("purpose", "script", "published", "first", "second", "change"), [
    (84, "p2wpkh", ZPUB, "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g",
     "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"),
    (49, "p2sh-p2wpkh", YPUB, "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf", None, None),
    (44, "p2pkh", XPUB, "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA", None, None),
])
def test_bip44_49_84_accounts_and_addresses(purpose: int, script: str, published: str, first: str,
                                            second: str | None, change: str | None) -> None:
    root = master_key(mnemonic_to_seed(MNEMONIC), script_type=script)
    account = root.derive(f"m/{purpose}h/0h/0h")
    assert account.neutered().serialize() == published
    watch = parse_extended_key(published)
    assert watch.script_type == script
    receive = derive_addresses(watch, 0, 0, 2)
    assert receive[0].address == first and receive[0].path == "0/0"
    if second:
        assert receive[1].address == second
    if change:
        assert derive_addresses(watch, 1, 0, 1)[0].address == change


def test_ledger_live_xpub_with_an_explicit_script_type_gives_the_segwit_addresses() -> None:
    # Ledger Live exports a native-segwit account's key with xpub version bytes: same key, other version.
    root = master_key(mnemonic_to_seed(MNEMONIC), script_type="p2pkh")
    as_xpub = root.derive("m/84h/0h/0h").neutered().serialize()
    assert as_xpub.startswith("xpub")
    key = parse_extended_key(as_xpub, script_type="p2wpkh")
    assert derive_addresses(key, 0, 0, 1)[0].address == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"


@pytest.mark.parametrize(("text", "reason"), [
    (ZPUB[:-1] + ("a" if ZPUB[-1] != "a" else "b"), "checksum"),
    ("xpub123", "checksum|78 bytes"),
    ("zpub0OIl", "base58"),
])
def test_bad_extended_keys_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidKey, match=reason):
        parse_extended_key(text)


def test_gap_limit_discovery_continues_past_a_used_address_late_in_the_first_window() -> None:
    watch = parse_extended_key(ZPUB)
    used = {derive_addresses(watch, 0, 19, 1)[0].address, derive_addresses(watch, 1, 0, 1)[0].address}
    asked: list[int] = []

    def is_used(batch: list[str]) -> list[bool]:
        asked.append(len(batch))
        return [a in used for a in batch]

    found = discover(watch, is_used, gap_limit=20)
    receive = [a for a in found if a.chain == 0]
    change = [a for a in found if a.chain == 1]
    assert len(receive) == 40 and receive[-1].index == 39  # used at 19, then 20 unused
    assert len(change) == 21
    assert used <= {a.address for a in found}


def test_bech32_and_base58_addresses() -> None:
    # BIP173's valid P2WPKH example; mixed case and a bad checksum are refused.
    assert decode_segwit_address("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4")[1:] == (
        0, bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6"))
    with pytest.raises(InvalidKey, match="mixed-case"):
        decode_segwit_address("bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
    with pytest.raises(InvalidKey, match="checksum"):
        decode_segwit_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5")
    assert address_script_type("1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA") == ("mainnet", "p2pkh")
    assert address_script_type("37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf") == ("mainnet", "p2sh")


def _tx(vin: list[tuple[str, int]], vout: list[tuple[str, int]], fee: int) -> dict:
    return {"txid": "ab" * 32, "fee": fee,
            "status": {"confirmed": True, "block_height": 1, "block_time": 1_700_000_000},
            "vin": [{"prevout": {"scriptpubkey_address": a, "value": v}} for a, v in vin],
            "vout": [{"scriptpubkey_address": a, "value": v} for a, v in vout]}


def test_wallet_view_nets_change_and_books_the_fee() -> None:
    own = {"mine1", "mine2", "change1"}
    payment = wallet_view(_tx([("mine1", 50_000_000)], [("shop", 20_000_000), ("change1", 29_970_000)], 30_000), own)
    assert payment["direction"] == "out"
    assert payment["amount"] == Decimal("0.2") and payment["fee_amount"] == Decimal("0.0003")
    assert payment["counterparties"] == ["shop"]
    received = wallet_view(_tx([("payer", 10_000_000)], [("mine2", 5_000_000), ("payer", 4_990_000)], 10_000), own)
    assert (received["direction"], received["amount"], received["fee_amount"]) == ("in", Decimal("0.05"), 0)
    consolidation = wallet_view(_tx([("mine1", 1000), ("mine2", 2000)], [("change1", 2900)], 100), own)
    assert (consolidation["direction"], consolidation["amount"], consolidation["fee_amount"]) == (
        "self", 0, Decimal("0.000001"))
    # Partly funded by someone else (a payjoin): the fee is not the wallet's to book.
    joint = wallet_view(_tx([("mine1", 1000), ("other", 5000)], [("shop", 5500), ("change1", 400)], 100), own)
    assert joint["fee_amount"] == 0 and joint["direction"] == "out" and joint["amount"] == Decimal("0.000006")


def test_eip55_checksums_and_selectors() -> None:
    for address in ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"):
        assert checksum_address(address.lower()) == address
    assert selector("balanceOf(address)") == "0x70a08231"
    assert selector("transfer(address,uint256)") == "0xa9059cbb"
    with pytest.raises(ValueError):
        checksum_address("0x123")


def test_evm_rows_book_gas_even_for_failed_transactions_and_scale_token_amounts() -> None:
    me = "0x18c7d2a34ffdeb5a0cf55f183af590331e8064d8"
    txlist = [
        {"hash": "0x" + "1" * 64, "from": me, "to": "0x" + "2" * 40, "value": "1500000000000000000", "gasUsed": "21000",
         "gasPrice": "20000000000", "isError": "0", "timeStamp": "1700000000", "blockNumber": "10"},
        {"hash": "0x" + "3" * 64, "from": me, "to": "0x" + "2" * 40, "value": "7", "gasUsed": "50000",
         "gasPrice": "10000000000", "isError": "1", "timeStamp": "1700000100", "blockNumber": "11"},
    ]
    tokentx = [{"hash": "0x" + "4" * 64, "from": "0x" + "5" * 40, "to": me, "value": "1" + "0" * 24,
                "tokenDecimal": "18", "tokenSymbol": "SPAM", "tokenName": "Visit x.io", "logIndex": "3",
                "contractAddress": "0x" + "6" * 40, "timeStamp": "1700000200", "blockNumber": "12"}]
    rows = {r["source_record_id"]: r for r in transfer_rows("ethereum", me, txlist, tokentx)}
    assert rows["0x" + "1" * 64 + ":native"]["amount"] == Decimal("1.5")
    assert rows["0x" + "1" * 64 + ":gas"]["amount"] == Decimal("0.00042")
    assert "0x" + "3" * 64 + ":native" not in rows  # a failed transaction moves no value ...
    assert rows["0x" + "3" * 64 + ":gas"]["amount"] == Decimal("0.0005")  # ... but its gas is spent
    token = rows["0x" + "4" * 64 + ":log:3"]
    assert (token["direction"], token["amount"], token["kind"]) == ("in", Decimal(1_000_000), "token")
