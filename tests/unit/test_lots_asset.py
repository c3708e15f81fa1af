"""The thin part of the tax_lots asset that decides things: which units recompute, which method a year has."""

from pipelines.domain.lots import Method
from pipelines.services.lots import Unit, changed_units


def unit(tenant: str, asset: str, inputs: str, methods: str = "", default: str = "fifo") -> Unit:
    return Unit(tenant, asset, 10, inputs, default, "fifo", methods)


def test_only_units_whose_inputs_changed_recompute_and_vanished_ones_are_removed() -> None:
    current = [unit("acme", "BTC", "h1"), unit("acme", "ETH", "h2-new"), unit("bluefin", "BTC", "h3")]
    stored = {("acme", "BTC"): "h1", ("acme", "ETH"): "h2", ("acme", "SOL"): "h4"}
    todo, gone = changed_units(current, stored)
    assert [(u.tenant_id, u.asset) for u in todo] == [("acme", "ETH"), ("bluefin", "BTC")]
    assert gone == [("acme", "SOL")]
    assert changed_units(current, {(u.tenant_id, u.asset): u.inputs_hash for u in current}) == ([], [])


def test_an_election_holds_from_its_tax_year_until_the_next() -> None:
    method = unit("acme", "BTC", "h", methods="2024:hifo,2026:specific", default="lifo").method_for_year()
    assert [method(year) for year in (2022, 2023, 2024, 2025, 2026, 2030)] == [
        Method.LIFO, Method.LIFO, Method.HIFO, Method.HIFO, Method.SPECIFIC, Method.SPECIFIC]
