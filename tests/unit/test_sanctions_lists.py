"""The sanctions list parsers on fixtures in OFAC's published layouts (tests/fixtures/sanctions: sdn.xml as the
Sanctions List Service exports it, the legacy sdn.csv with its Remarks, CRLF and Ctrl-Z) and a plain CSV; the
address key (EVM and bech32 without regard to case, base58 exactly); the demo list carries the sandbox's planted
counterparty."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines.domain.screening import hit_id
from pipelines.sources.sanctions.ofac import (
    ListFormatError,
    detect_format,
    parse,
    parse_address_csv,
    parse_sdn_csv,
    parse_sdn_xml,
)
from pipelines.sources.sanctions.records import address_key

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sanctions"
LAZARUS_ETH = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96"
GARANTEX = "0x6F1cA141A28907F78Ebaa64fb83A9088b02A8352"


def by_address(parsed) -> dict[tuple[str, str], object]:  # type: ignore[no-untyped-def]
    return {(a.address, a.ticker): a for a in parsed.addresses}


def test_sdn_xml_reads_the_publish_date_and_every_digital_currency_address() -> None:
    parsed = parse_sdn_xml((FIXTURES / "sdn.xml").read_bytes())
    assert (parsed.list_format, parsed.version, parsed.published_on) == ("sdn-xml", "2026-11-26", date(2026, 11, 26))
    assert parsed.entry_count == 5  # AEROCARIBBEAN AIRLINES has no address: counted, not listed
    found = by_address(parsed)
    assert sorted(found) == sorted([("149w62rY42aZBox8fGcmqNsXUzSStKeq8C", "XBT"),
                                    ("1AjZPMsnmpdK2Rv9KQNfMurTXinscVro9V", "XBT"), (LAZARUS_ETH, "ETH"),
                                    (GARANTEX, "ETH"), (GARANTEX, "USDT")])
    ali = found[("149w62rY42aZBox8fGcmqNsXUzSStKeq8C", "XBT")]
    assert (ali.entry_uid, ali.entry_name, ali.entry_type, ali.programs) == (  # type: ignore[attr-defined]
        "26137", "KHORASHADIZADEH, Ali", "Individual", ("CYBER2",))
    garantex = found[(GARANTEX, "USDT")]
    assert garantex.programs == ("CYBER2", "RUSSIA-EO14024")  # type: ignore[attr-defined]
    assert "A12345678" not in {a.address for a in parsed.addresses}  # a passport number is not an address


def test_sdn_csv_reads_the_addresses_in_the_remarks_as_the_xml_lists_them() -> None:
    data = (FIXTURES / "sdn.csv").read_bytes()
    assert data.endswith(b"\x1a") and b"\r\n" in data  # OFAC's file as published: CRLF, Ctrl-Z at the end
    parsed = parse_sdn_csv(data)
    assert (parsed.version, parsed.published_on, parsed.entry_count) == (None, None, 5)
    xml = parse_sdn_xml((FIXTURES / "sdn.xml").read_bytes())
    assert {(a.entry_uid, a.entry_name, a.address, a.ticker, a.programs) for a in parsed.addresses} == \
        {(a.entry_uid, a.entry_name, a.address, a.ticker, a.programs) for a in xml.addresses}
    lazarus = by_address(parsed)[(LAZARUS_ETH, "ETH")]
    assert lazarus.entry_type is None  # '-0- ' is OFAC's empty field  # type: ignore[attr-defined]


def test_a_plain_csv_with_or_without_its_header() -> None:
    parsed = parse_address_csv((FIXTURES / "addresses.csv").read_bytes())
    assert [(a.address, a.ticker, a.entry_name) for a in parsed.addresses] == [
        ("0x8576aCC5C05D6Ce88f4e49bf65BdF0C62F91353C", "ETH", "Internal watchlist: phishing drainer"),
        ("BC1QXY2KGDYGJRSQTZQ2N0YRF2493P83KKFJHX0WLH", "BTC", "Internal watchlist: mule account"),
        ("TJDENsfBJs4RFETt1X1W8wMDc8M5XnJhCe", "TRX", "Internal watchlist")]
    assert parsed.addresses[1].entry_uid == "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"  # the entry is the address
    bare = parse_address_csv(b"1AjZPMsnmpdK2Rv9KQNfMurTXinscVro9V\n# a comment\n\n"
                             b"0xabc0000000000000000000000000000000000001,ETH\n")
    assert [(a.address, a.ticker, a.entry_name) for a in bare.addresses] == [
        ("1AjZPMsnmpdK2Rv9KQNfMurTXinscVro9V", "", "1AjZPMsnmpdK2Rv9KQNfMurTXinscVro9V"),
        ("0xabc0000000000000000000000000000000000001", "ETH", "0xabc0000000000000000000000000000000000001")]
    with pytest.raises(ListFormatError, match="blanks inside"):
        parse_address_csv(b"not an address\n")


def test_formats_are_detected_and_a_wrong_file_is_refused() -> None:
    for name, fmt in (("sdn.xml", "sdn-xml"), ("sdn.csv", "sdn-csv"), ("addresses.csv", "csv")):
        assert detect_format(name, (FIXTURES / name).read_bytes()) == fmt
    with pytest.raises(ListFormatError, match="not <sdnList>"):
        parse(b'<?xml version="1.0"?><Sanctions xmlns="x"><DateOfIssue/></Sanctions>', "sdn-xml")
    with pytest.raises(ListFormatError, match=r"not an sdn\.csv record"):
        parse((FIXTURES / "addresses.csv").read_bytes(), "sdn-csv")
    with pytest.raises(ListFormatError, match="well-formed"):
        parse(b"<sdnList><sdnEntry>", "sdn-xml")


@pytest.mark.parametrize(("written", "key"), [
    (LAZARUS_ETH, LAZARUS_ETH.lower()),                                    # EVM: the checksum case is not the address
    (LAZARUS_ETH.upper().replace("0X", "0x"), LAZARUS_ETH.lower()),
    ("BC1QXY2KGDYGJRSQTZQ2N0YRF2493P83KKFJHX0WLH", "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"),  # bech32, one case
    ("bc1qXY2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh", "bc1qXY2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"),  # mixed case: invalid
    ("149w62rY42aZBox8fGcmqNsXUzSStKeq8C", "149w62rY42aZBox8fGcmqNsXUzSStKeq8C"),  # base58: case is the address
    (" TJDENsfBJs4RFETt1X1W8wMDc8M5XnJhCe ", "TJDENsfBJs4RFETt1X1W8wMDc8M5XnJhCe"),
])
def test_address_key(written: str, key: str) -> None:
    assert address_key(written) == key


def test_base58_addresses_differing_in_case_are_different_addresses() -> None:
    assert address_key("149w62rY42aZBox8fGcmqNsXUzSStKeq8C") != address_key("149W62RY42AZBOX8FGCMQNSXUZSSTKEQ8C")


def test_the_sandbox_demo_list_carries_the_planted_counterparty_once() -> None:
    from sandbox.world import SANCTIONED_COUNTERPARTY, SANCTIONS_DEMO_LIST

    listed = parse(SANCTIONS_DEMO_LIST.read_bytes(), "sdn-xml").addresses
    assert [a.entry_uid for a in listed if a.key == address_key(SANCTIONED_COUNTERPARTY[2])] == ["26137"]


def test_hit_id_is_stable_and_ignores_the_list_version() -> None:
    a = hit_id("acme", "binance", "acme-binance-main", "w1", "149w62rY42aZBox8fGcmqNsXUzSStKeq8C", "OFAC SDN", "26137")
    assert a == hit_id("acme", "binance", "acme-binance-main", "w1", "149w62rY42aZBox8fGcmqNsXUzSStKeq8C",
                       "OFAC SDN", "26137")
    assert len(a) == 32 and a != hit_id("bluefin", "binance", "acme-binance-main", "w1",
                                        "149w62rY42aZBox8fGcmqNsXUzSStKeq8C", "OFAC SDN", "26137")
