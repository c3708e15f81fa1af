"""What a parsed sanctions list is, and the form addresses are compared in (dbt's macro `address_key` applies the
same rule to the ledger's counterparties)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

# EVM addresses are hex: case carries only the EIP-55 checksum, so '0xABC…' and '0xabc…' are one address.
_EVM = re.compile(r"^0x[0-9a-fA-F]{40}$")
# bech32 / bech32m (BIP 173/350): one case throughout, upper or lower, same address; the data part's alphabet
# has no 1, b, i, o. Base58 (legacy BTC, TRON, …) is case-sensitive and stays as written.
_BECH32 = re.compile(r"^(bc|tb|bcrt|ltc|tltc)1[02-9ac-hj-np-z]{6,87}$", re.IGNORECASE)


def address_key(address: str) -> str:
    """EVM and bech32 addresses lower-cased, anything else (base58) as written; surrounding blanks dropped."""
    text = address.strip()
    if _EVM.match(text) or (_BECH32.match(text) and (text.islower() or text.isupper())):
        return text.lower()
    return text


@dataclass(frozen=True)
class ListedAddress:
    """One address of one list entry (an SDN entry may list many, and one address under several tickers)."""

    entry_uid: str
    entry_name: str
    address: str
    ticker: str = ""
    entry_type: str | None = None
    programs: tuple[str, ...] = ()
    note: str | None = None

    @property
    def key(self) -> str:
        return address_key(self.address)


@dataclass(frozen=True)
class SanctionsList:
    """A list file as parsed: its format, version (SDN: the publish date) and its addresses."""

    list_format: str  # sdn-xml | sdn-csv | csv
    version: str | None
    published_on: date | None
    entry_count: int  # entries with at least one address
    addresses: list[ListedAddress] = field(default_factory=list)
