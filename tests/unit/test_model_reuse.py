"""Which dbt nodes a transform keeps (pipelines/domain/model_reuse.py): a node is kept only when it, and every
model above it, was last built on exactly today's inputs."""

from datetime import date

from pipelines.domain.model_reuse import (
    DbtNode,
    built_whole,
    definition_signatures,
    kept,
    plan_kept,
    signatures,
    topological_order,
    with_contexts,
    without_dbt,
)

TODAY = date(2026, 3, 31)
# raw trades → stg → ledger → positions (+ a test on positions); prices → positions; a daily model over ledger
NODES = {
    "model.stg": DbtNode("model.stg", "stg-sql", ("source.raw.trades",)),
    "model.ledger": DbtNode("model.ledger", "ledger-sql", ("model.stg",)),
    "model.positions": DbtNode("model.positions", "positions-sql", ("model.ledger", "source.raw.prices")),
    "model.open_lots": DbtNode("model.open_lots", "lots-sql", ("model.ledger",), daily=True),
    "model.prices": DbtNode("model.prices", "prices-sql", ("source.raw.prices",)),
    "test.positions_not_null": DbtNode("test.positions_not_null", "not_null(quantity)", ("model.positions",)),
}
DIGESTS = {"source.raw.trades": "4000:123", "source.raw.prices": "900:77"}
EVERYTHING = set(NODES)


def test_nothing_changed_keeps_every_node() -> None:
    now = signatures(NODES, DIGESTS, "project", TODAY)
    assert set(now) == EVERYTHING
    assert kept(NODES, EVERYTHING, now, now, set()) == EVERYTHING


def test_a_changed_source_rebuilds_what_reads_it_and_nothing_else() -> None:
    before = signatures(NODES, DIGESTS, "project", TODAY)
    now = signatures(NODES, {**DIGESTS, "source.raw.prices": "901:80"}, "project", TODAY)
    assert kept(NODES, EVERYTHING, now, before, set()) == {"model.stg", "model.ledger", "model.open_lots"}


def test_an_updated_historical_row_counts_as_a_change() -> None:
    """Same row count, other content (an UPDATE of an old trade): the digest differs, so does the signature."""
    before = signatures(NODES, DIGESTS, "project", TODAY)
    now = signatures(NODES, {**DIGESTS, "source.raw.trades": "4000:124"}, "project", TODAY)
    assert kept(NODES, EVERYTHING, now, before, set()) == {"model.prices"}


def test_the_sql_or_the_project_changing_rebuilds() -> None:
    before = signatures(NODES, DIGESTS, "project", TODAY)
    edited = {**NODES, "model.ledger": DbtNode("model.ledger", "ledger-sql v2", ("model.stg",))}
    now = signatures(edited, DIGESTS, "project", TODAY)
    assert kept(edited, EVERYTHING, now, before, set()) == {"model.stg", "model.prices"}
    assert kept(NODES, EVERYTHING, signatures(NODES, DIGESTS, "macros v2", TODAY), before, set()) == set()


def test_a_daily_node_is_kept_for_the_day_only() -> None:
    before = signatures(NODES, DIGESTS, "project", TODAY)
    tomorrow = signatures(NODES, DIGESTS, "project", date(2026, 4, 1))
    assert kept(NODES, EVERYTHING, tomorrow, before, set()) == EVERYTHING - {"model.open_lots"}


def test_a_parent_built_again_in_this_run_rebuilds_its_children() -> None:
    """ledger's last build failed and is built again now on the same inputs: the views on the old relation are
    gone with it (dbt drops it CASCADE), so everything below ledger is built too."""
    now = signatures(NODES, DIGESTS, "project", TODAY)
    assert kept(NODES, EVERYTHING, now, now, {"model.ledger"}) == {"model.stg", "model.prices"}


def test_a_node_never_built_is_built_and_so_is_everything_below_it() -> None:
    now = signatures(NODES, DIGESTS, "project", TODAY)
    stored = {uid: s for uid, s in now.items() if uid != "model.stg"}
    assert kept(NODES, EVERYTHING, now, stored, set()) == {"model.prices"}


def test_a_source_without_a_digest_is_never_trusted() -> None:
    now = signatures(NODES, {"source.raw.prices": "900:77"}, "project", TODAY)
    assert "model.stg" not in now and "model.positions" not in now
    assert kept(NODES, EVERYTHING, now, now, set()) == {"model.prices"}


def test_a_test_that_must_run_builds_the_model_it_tests() -> None:
    """dbt's --exclude of a model takes its tests with it: a new test on a kept model makes the model build."""
    now = signatures(NODES, DIGESTS, "project", TODAY)
    stored = {uid: s for uid, s in now.items() if uid != "test.positions_not_null"}
    assert plan_kept(NODES, EVERYTHING, now, stored, set()) == EVERYTHING - {"model.positions",
                                                                            "test.positions_not_null"}


def test_topological_order_puts_parents_first() -> None:
    order = topological_order(NODES)
    for uid, node in NODES.items():
        assert all(order[p] < order[uid] for p in node.parents if p in NODES)


# a view over the alerts source (new rows every run) with a test on it
VIEW_NODES = {**NODES,
              "model.open_alerts": DbtNode("model.open_alerts", "alerts-sql", ("source.ops.alerts",)),
              "test.alerts_severity": DbtNode("test.alerts_severity", "accepted_values", ("model.open_alerts",))}
SHAPES = {"source.raw.trades": "id bigint,price numeric", "source.raw.prices": "asset text,usd numeric",
          "source.ops.alerts": "id bigint,severity text"}
VIEWS = {"model.stg", "model.open_alerts"}
ALERTS = {"model.open_alerts", "test.alerts_severity"}


def test_a_definition_ignores_the_data_and_the_calendar_but_not_the_columns() -> None:
    before = definition_signatures(VIEW_NODES, SHAPES, "project")
    assert set(before) == set(VIEW_NODES)
    assert definition_signatures(VIEW_NODES, SHAPES, "project") == before
    assert signatures(VIEW_NODES, {**DIGESTS, "source.ops.alerts": "1:1"}, "project", TODAY) != signatures(
        VIEW_NODES, {**DIGESTS, "source.ops.alerts": "2:5"}, "project", TODAY)
    # a column added to the source: the view over it is defined anew, and the test on it
    wider = definition_signatures(VIEW_NODES, {**SHAPES, "source.ops.alerts": "id bigint,severity text,note text"},
                                  "project")
    assert {uid for uid in VIEW_NODES if wider[uid] != before[uid]} == ALERTS
    assert definition_signatures(VIEW_NODES, SHAPES, "other project") != before


def test_a_view_whose_data_changed_needs_no_dbt_when_its_tests_sql_is_known() -> None:
    defined = definition_signatures(VIEW_NODES, SHAPES, "project")
    assert without_dbt(ALERTS, VIEWS, defined, defined, {"test.alerts_severity"}, set())
    assert not without_dbt(set(), VIEWS, defined, defined, {"test.alerts_severity"}, set())  # nothing to do


def test_dbt_builds_a_table_a_gone_view_a_changed_or_new_node_or_a_test_without_sql() -> None:
    defined = definition_signatures(VIEW_NODES, SHAPES, "project")
    compiled = {"test.alerts_severity", "test.positions_not_null"}
    assert not without_dbt(ALERTS | {"model.positions"}, VIEWS, defined, defined, compiled, set())  # a table
    assert not without_dbt(ALERTS, VIEWS, defined, defined, compiled, {"model.open_alerts"})  # dropped
    assert not without_dbt(ALERTS, VIEWS, defined, {**defined, "model.open_alerts": "older"}, compiled, set())
    assert not without_dbt(ALERTS, VIEWS, defined, {**defined, "test.alerts_severity": None}, compiled, set())
    assert not without_dbt(ALERTS, VIEWS, defined, defined, set(), set())  # the test's SQL never stored
    unknown = definition_signatures(VIEW_NODES, {k: v for k, v in SHAPES.items() if k != "source.ops.alerts"},
                                    "project")
    assert not without_dbt(ALERTS, VIEWS, unknown, defined, compiled, set())  # a source not found


def test_an_incremental_model_is_built_whole_when_its_context_or_definition_changed() -> None:
    """The ledger built incrementally: its rows stand while its definition (SQL, parents, context: the accounts'
    portfolios, the gate's holds) is the one they were built with; a changed context reaches its readers too."""
    shapes = {"source.raw.trades": "id bigint", "source.raw.prices": "asset text"}
    stored = definition_signatures(with_contexts(NODES, {"model.ledger": "portfolios v1"}), shapes, "project")
    same = definition_signatures(with_contexts(NODES, {"model.ledger": "portfolios v1"}), shapes, "project")
    moved = definition_signatures(with_contexts(NODES, {"model.ledger": "portfolios v2"}), shapes, "project")
    assert same == stored
    assert {uid for uid in NODES if moved[uid] != stored[uid]} == {
        "model.ledger", "model.positions", "model.open_lots", "test.positions_not_null"}
    incremental = {"model.ledger", "model.positions"}
    to_build = {"model.ledger", "model.positions", "model.open_lots"}
    assert built_whole(to_build, incremental, same, stored, set(), False) == set()  # data changed: increments
    assert built_whole(to_build, incremental, moved, stored, set(), False) == incremental
    assert built_whole({"model.ledger"}, incremental, same, stored, set(), True) == {"model.ledger"}  # full refresh
    assert built_whole(to_build, incremental, same, stored, {"model.positions"}, False) == {"model.positions"}
    assert built_whole(to_build, incremental, same, {**stored, "model.ledger": None}, set(), False) == {
        "model.ledger"}  # never built with a known definition
    assert built_whole({"model.open_lots"}, incremental, moved, stored, set(), True) == set()  # not incremental
