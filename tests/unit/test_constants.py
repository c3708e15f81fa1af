"""One definition per shared value: the dbt macros (dbt_project/macros/constants.sql) say what pipelines/constants.py
says, the raw-table naming rule is one function, and nothing else spells the genesis floor or the public tenant."""

from __future__ import annotations

import re
from pathlib import Path

from pipelines.constants import (
    DEFAULT_LARGE_TRANSFER,
    DEFAULT_UNHOSTED_TRANSFER,
    GENESIS,
    GENESIS_MS,
    PUBLIC_TENANT,
    raw_asset_name,
    raw_table,
    raw_table_of_asset,
)

ROOT = Path(__file__).resolve().parents[2]
MACROS = (ROOT / "dbt_project" / "macros" / "constants.sql").read_text()


def macro_body(name: str) -> str:
    found = re.search(r"{%\s*macro " + name + r"\(.*?\)\s*-?%}(.*?){%-?\s*endmacro", MACROS, flags=re.S)
    assert found, name
    return found.group(1).strip()


def test_the_dbt_macros_hold_the_same_values() -> None:
    assert macro_body("public_tenant") == f"'{PUBLIC_TENANT}'"
    assert macro_body("genesis_floor") == f"timestamptz '{GENESIS:%Y-%m-%d %H:%M:%S}+00'"
    assert macro_body("raw_table") == "'raw.{{ source }}_{{ entity }}'"
    assert int(GENESIS.timestamp() * 1000) == GENESIS_MS
    assert macro_body("default_large_transfer") == str(DEFAULT_LARGE_TRANSFER)
    assert macro_body("default_unhosted_transfer") == str(DEFAULT_UNHOSTED_TRANSFER)


def test_the_raw_table_rule() -> None:
    assert raw_table("binance", "trades") == "raw.binance_trades"
    assert raw_asset_name("btc", "balances") == "raw_btc_balances"
    assert raw_table_of_asset(raw_asset_name("file", "records")) == raw_table("file", "records")


def test_no_second_copy_of_the_genesis_floor_or_the_public_tenant() -> None:
    """Python code outside constants.py names neither the genesis date nor the public tenant as an SQL literal
    (SQL migrations, which are history, and tests aside)."""
    offenders = []
    for path in [*ROOT.glob("pipelines/**/*.py"), *ROOT.glob("warehouse/*.py"), *ROOT.glob("expectations/*.py")]:
        if path.name == "constants.py":
            continue
        text = path.read_text()
        for pattern in (r"2009, 1, 3", r"2009-01-03", r"1_?230_?940_?800_?000", r"=\s*'public'", r"\('public'"):
            for match in re.finditer(pattern, text):
                line = text[:match.start()].count("\n") + 1
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {match.group()}")
    assert offenders == []


def test_coinbook_variables_are_read_in_the_settings_only() -> None:
    """Every COINBOOK_* variable is read by pipelines/settings.py; nothing else looks one up in the environment
    (dbt's COINBOOK_PG_* are written for dbt's profiles.yml, not read)."""
    reads = re.compile(r"""(environ(\.get)?\s*[\[(]\s*f?["']COINBOOK_|getenv\(\s*f?["']COINBOOK_)""")
    offenders = [f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
                 for path in [*ROOT.glob("pipelines/**/*.py"), *ROOT.glob("warehouse/*.py"),
                              *ROOT.glob("expectations/*.py")]
                 if path.name != "settings.py" for text in [path.read_text()] for m in reads.finditer(text)]
    assert offenders == []
    for read in ('os.environ.get("COINBOOK_MASTER_KEY")', "os.environ['COINBOOK_X']", 'os.getenv("COINBOOK_Y")'):
        assert reads.search(read), read  # the pattern sees the ways a variable is read


def test_every_setting_is_used() -> None:
    """No dead settings: each field of CoinbookSettings is read somewhere outside settings.py."""
    from pipelines.settings import CoinbookSettings

    code = "\n".join(p.read_text() for p in ROOT.glob("pipelines/**/*.py") if p.name != "settings.py")
    settings = (ROOT / "pipelines" / "settings.py").read_text()
    unused = [name for name in CoinbookSettings.model_fields
              if not re.search(rf"\.{name}\b|\(settings, \"{name}\"\)", code)
              and not re.search(rf"self\.{name}\b", settings)]
    assert unused == []
