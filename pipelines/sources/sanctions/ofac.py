"""The sanctions list formats: OFAC's SDN list as it publishes it, and a plain CSV of addresses.

- **sdn.xml** (Sanctions List Service, sanctionslist.ofac.treas.gov; also SDN_XML.ZIP): root `sdnList` (namespace
  varies by publication: tempuri.org/sdnList.xsd, then the Sanctions List Service's), `publshInformation/
  Publish_Date` (MM/DD/YYYY; OFAC's spelling), one `sdnEntry` per person or entity (`uid`, `firstName`, `lastName`,
  `sdnType`, `programList/program`) whose `idList/id` holds `idType` "Digital Currency Address - <ticker>" and the
  address in `idNumber`.
- **sdn.csv** (the legacy delimited file): no header; ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign,
  Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks; "-0-" for empty; programs as "CYBER2] [DPRK3"; the
  addresses in Remarks as "Digital Currency Address - XBT 1abc…;" (with "alt." before the later ones); the file
  ends with a Ctrl-Z (0x1A). It carries no publish date: its version is given, or its hash.
- **plain CSV**: address[,chain or ticker][,name][,note], with or without that header line.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime

from pipelines.sources.sanctions.records import ListedAddress, SanctionsList, address_key

FORMATS = ("sdn-xml", "sdn-csv", "csv")
ID_TYPE_PREFIX = "Digital Currency Address - "
_REMARK_ADDRESS = re.compile(r"Digital Currency Address - ([A-Za-z0-9]+)\s+([A-Za-z0-9]+)")
_CSV_NULL = "-0-"
_SDN_CSV_COLUMNS = 12


class ListFormatError(ValueError):
    """The file is not in the format it was read as (a person's error: one line, no traceback)."""


def detect_format(name: str, data: bytes) -> str:
    """sdn-xml for XML; sdn-csv for OFAC's delimited file (12 columns, a numeric ent_num first); csv otherwise."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if name.lower().endswith(".xml") or head == b"<":
        return "sdn-xml"
    first = next(csv.reader(io.StringIO(_text(data).lstrip())), [])
    if len(first) >= _SDN_CSV_COLUMNS and first[0].strip().isdigit():
        return "sdn-csv"
    return "csv"


def parse(data: bytes, list_format: str) -> SanctionsList:
    if list_format == "sdn-xml":
        return parse_sdn_xml(data)
    if list_format == "sdn-csv":
        return parse_sdn_csv(data)
    if list_format == "csv":
        return parse_address_csv(data)
    raise ListFormatError(f"unknown list format {list_format!r} (one of {', '.join(FORMATS)})")


# ── sdn.xml ──────────────────────────────────────────────────────────────────────────────────────────────────
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _child_text(element: ET.Element, name: str) -> str:
    child = _child(element, name)
    return (child.text or "").strip() if child is not None else ""


def _children(element: ET.Element, path: str) -> list[ET.Element]:
    found = [element]
    for name in path.split("/"):
        found = [c for parent in found for c in parent if _local(c.tag) == name]
    return found


def publish_date(text: str) -> date | None:
    """OFAC writes MM/DD/YYYY."""
    try:
        return datetime.strptime(text.strip(), "%m/%d/%Y").date() if text.strip() else None
    except ValueError as e:
        raise ListFormatError(f"Publish_Date {text!r} is not MM/DD/YYYY") from e


def parse_sdn_xml(data: bytes) -> SanctionsList:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise ListFormatError(f"not well-formed XML: {e}") from e
    if _local(root.tag) != "sdnList":
        raise ListFormatError(f"root element is <{_local(root.tag)}>, not <sdnList> (sdn.xml); the advanced "
                              "format (SDN_ADVANCED.XML) is not read: load sdn.xml or sdn.csv")
    info = _child(root, "publshInformation")
    published = publish_date(_child_text(info, "Publish_Date")) if info is not None else None
    entries = _children(root, "sdnEntry")
    addresses: list[ListedAddress] = []
    for entry in entries:
        last, first = _child_text(entry, "lastName"), _child_text(entry, "firstName")
        name = f"{last}, {first}" if first else last  # sdn.csv's SDN_Name: "LAST, First"
        programs = tuple(p.text.strip() for p in _children(entry, "programList/program") if p.text)
        for ident in _children(entry, "idList/id"):
            id_type = _child_text(ident, "idType")
            number = _child_text(ident, "idNumber")
            if id_type.startswith(ID_TYPE_PREFIX) and number:
                addresses.append(ListedAddress(_child_text(entry, "uid"), name, number,
                                               id_type[len(ID_TYPE_PREFIX):].strip(),
                                               _child_text(entry, "sdnType") or None, programs))
    return SanctionsList("sdn-xml", published.isoformat() if published else None, published, len(entries),
                         _unique(addresses))


# ── sdn.csv ──────────────────────────────────────────────────────────────────────────────────────────────────
def _field(value: str) -> str | None:
    value = value.strip()
    return None if value in ("", _CSV_NULL) else value


def parse_sdn_csv(data: bytes) -> SanctionsList:
    rows = [r for r in csv.reader(io.StringIO(_text(data).replace("\x1a", ""))) if any(c.strip() for c in r)]
    addresses: list[ListedAddress] = []
    for n, row in enumerate(rows, start=1):
        if len(row) < _SDN_CSV_COLUMNS or not row[0].strip().isdigit():
            raise ListFormatError(f"line {n} is not an sdn.csv record (12 fields, ent_num first): {row[:3]}")
        uid, name, kind, program = (_field(v) for v in row[:4])
        programs = tuple(p.strip(" []") for p in (program or "").split("] [") if p.strip(" []"))
        for ticker, address in _REMARK_ADDRESS.findall(row[11]):
            addresses.append(ListedAddress(uid or "", name or "", address, ticker, kind, programs))
    return SanctionsList("sdn-csv", None, None, len(rows), _unique(addresses))


# ── plain CSV ────────────────────────────────────────────────────────────────────────────────────────────────
_HEADER_NAMES = {"address": "address", "chain": "ticker", "ticker": "ticker", "network": "ticker",
                 "currency": "ticker", "name": "name", "entity": "name", "note": "note", "notes": "note",
                 "remarks": "note"}


def parse_address_csv(data: bytes) -> SanctionsList:
    """One address a line. The entry is the address itself (a plain list has no entry ids): its key is the
    entry uid, so a reordered file gives the same hits."""
    rows = [r for r in csv.reader(io.StringIO(_text(data))) if r and any(c.strip() for c in r)]
    columns = ["address", "ticker", "name", "note"]
    if rows and rows[0][0].strip().lower() == "address":
        columns = [_HEADER_NAMES.get(c.strip().lower(), c.strip().lower()) for c in rows[0]]
        rows = rows[1:]
    addresses = []
    for row in rows:
        values = dict(zip(columns, (c.strip() for c in row), strict=False))
        address = values.get("address", "")
        if not address or address.startswith("#"):
            continue
        if any(c.isspace() for c in address):
            raise ListFormatError(f"{address!r} is not an address (blanks inside)")
        addresses.append(ListedAddress(address_key(address), values.get("name") or address, address,
                                       (values.get("ticker") or "").upper(), None, (), values.get("note") or None))
    unique = _unique(addresses)
    return SanctionsList("csv", None, None, len(unique), unique)


def _unique(addresses: list[ListedAddress]) -> list[ListedAddress]:
    """One row per entry, ticker and address (a list may repeat one)."""
    seen: dict[tuple[str, str, str], ListedAddress] = {}
    for a in addresses:
        seen.setdefault((a.entry_uid, a.ticker, a.address), a)
    return list(seen.values())


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # OFAC's older delimited files are Latin-1
