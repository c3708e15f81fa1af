"""The venues' exports (tests/fixtures/imports/) as a spreadsheet re-saves them in another locale: the same rows in
the notation Excel or LibreOffice writes, so a test can check that each variant reads back to the same records.

What each program writes, and where that is documented:
- Excel "CSV (Comma delimited)" uses the Windows list separator, which is ';' in locales whose decimal mark is ','
  (de-DE, fr-FR, nl-NL …), and writes numbers and dates as the cells display them, in the locale's notation
  (the list separator: https://grokipedia.com/page/List_separator_Microsoft_Excel and the Excel/OpenOffice notes
  at https://www.mail-archive.com/dev@sc.openoffice.org/msg01565.html — en-US ',' and '.', de-DE ';' and ',').
  "CSV UTF-8" adds the UTF-8 byte-order mark EF BB BF.
- Excel "Unicode Text (*.txt)" is UTF-16 little-endian with the BOM FF FE, tab-delimited, CRLF
  (http://www.herongyang.com/Unicode/Excel-Save-File-in-Unicode-Text-txt.html, with a hex dump;
  https://wiki.scn.sap.com/wiki/display/ABAP/Excel+files+-+CSV+format).
- Excel turns '2024-03-15 14:22:07' into a date shown in the locale's short format: Windows m/d/yyyy (en-US),
  dd.mm.yyyy (de-DE), dd/mm/yyyy (fr-FR, en-GB); Excel for Mac m/d/yy, two-digit years
  (https://data-enhanced.com/2020/03/11/why-does-excel-keep-mangling-my-date-formats/). The default time part is
  h:mm, which drops the seconds (the refusal tests use that); the variants here assume the user formatted the
  column with seconds (…hh:mm:ss), the workaround the README gives. Dates Excel cannot read ('2024-02-30 …')
  stay text, as written.
- Numbers lose trailing zeros (General format: '10000.0000' → '10000'); a column formatted with grouping shows
  '57,000.00' (en-US), '57.000,00' (de-DE), '57 000,00' with a no-break space (fr-FR); money cells such as
  Coinbase's '$62,000.00' in de-DE currency format read '62.000,00 $'.
- LibreOffice keeps a recognised ISO 8601 date in ISO notation, so its re-save in de-DE changes only the
  delimiter (chosen in the export dialog) and the decimal mark.
Simplifications, said here so nothing is claimed that is not done: digits are kept exactly (a spreadsheet keeps
15 significant digits; the fixtures' amounts have fewer, except generic line 15, whose 19 decimals are rejected
either way), and a fraction of a second is kept whole (Excel shows at most 3 digits of it).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_MONEY = re.compile(r"(-?)\$([\d,]+(?:\.\d+)?)")
_NAIVE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(\d+))?")


@dataclass(frozen=True)
class Resave:
    name: str
    delimiter: str
    decimal: str  # '.' or ','
    grouping: str  # '' (General format) or the thousands separator of a formatted column
    dates: str | None  # strftime of the date column as re-formatted, or None: ISO kept (LibreOffice)
    money: str  # '{sign}{number} $' or '{sign}${number}': how a currency cell is shown
    encoding: str  # Python codec of the bytes written
    footer: tuple[str, ...] = ()  # lines the user added after the data (in the file's own delimiter)

    def number(self, text: str) -> str:
        value = Decimal(text).normalize()
        sign, plain = ("-", -value) if value < 0 else ("", value)
        integer, _, decimals = format(plain, "f").partition(".")
        if self.grouping:
            integer = f"{int(integer):,}".replace(",", self.grouping)
        return sign + integer + (self.decimal + decimals if decimals else "")

    def cell(self, text: str) -> str:
        if _PLAIN_NUMBER.fullmatch(text):
            return self.number(text)
        money = _MONEY.fullmatch(text)
        if money:
            return self.money.format(sign=money.group(1), number=self.number(money.group(2).replace(",", "")))
        moment = _NAIVE_TIME.fullmatch(text)
        if moment and self.dates:
            try:
                parsed = datetime.strptime(moment.group(1), "%Y-%m-%d %H:%M:%S")
            except ValueError:
                return text  # not a date Excel can read: it stays text
            shown = parsed.strftime(self.dates)
            return shown + (self.decimal + moment.group(2) if moment.group(2) else "")
        return text

    def text(self, original: str) -> str:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.delimiter, lineterminator="\r\n")
        rows = list(csv.reader(io.StringIO(original.removeprefix("\ufeff"))))
        width = max(len(row) for row in rows)
        for row in rows:
            writer.writerow([self.cell(c) for c in row] + [""] * (width - len(row)) if row else [])
        return out.getvalue() + "".join(line + "\r\n" for line in self.footer)

    def bytes(self, original: str) -> bytes:
        if self.encoding == "utf-16":  # as Excel writes it: little-endian after the BOM FF FE
            return "\ufeff".encode("utf-16-le") + self.text(original).encode("utf-16-le")
        return self.text(original).encode(self.encoding)


_US_MONEY = "{sign}${number}"
_EU_MONEY = "{sign}{number} $"
VARIANTS = (
    Resave("excel-de-csv", ";", ",", "", "%d.%m.%Y %H:%M:%S", _EU_MONEY, "cp1252",
           ("", "Summe;;;;;;;;;;")),
    Resave("excel-us-csv-utf8", ",", ".", ",", "%m/%d/%Y %H:%M:%S", _US_MONEY, "utf-8-sig",
           ("Total,,,,,,,,,,",)),
    Resave("excel-fr-unicode-text", "\t", ",", "\u00a0", "%d/%m/%Y %H:%M:%S", _EU_MONEY, "utf-16",
           ("", "Export du 20/03/2024")),
    Resave("libreoffice-de", ";", ",", "", None, _EU_MONEY, "utf-8"),
)
