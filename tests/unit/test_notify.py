"""Notifications, the pure parts: message formatting, which target takes which alert, what is due (sent once,
failed retried up to the cap, resolutions only to whoever was told of the raise), URL lists and redaction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines.domain.alerts import Alert
from pipelines.services.notify import (
    AlertEvent,
    NotifySettings,
    Target,
    format_message,
    global_targets,
    is_due,
    make_target,
    notify_type,
    plan,
    resolve_url,
    scrub,
    split_urls,
    target_key,
    wants,
)
from pipelines.settings import CoinbookSettings

VAR = Alert("acme", "var_limit", "critical", "main:var_99_1d",
            "1-day 99 % VaR 123,457 USD is 14 % of the portfolio (limit 10 %)",
            {"portfolio_id": "main", "var_usd": 123456.789, "assets": ["BTC", "ETH"], "nested": {"x": 1},
             "none": None})
RAISED = datetime(2026, 9, 30, 21, 15, 7, tzinfo=UTC)


def target(tenant: str | None = None, min_severity: str = "warning", kinds: set[str] | None = None,
           resolved: bool = True, key: str = "k1") -> Target:
    return Target(key, f"json://hook/{key}", f"json://hook/{key}", min_severity,
                  None if kinds is None else frozenset(kinds), resolved, tenant)


def test_message_names_tenant_kind_severity_subject_and_key_details() -> None:
    title, body = format_message(VAR, "raised", RAISED)
    assert title == "[Coinbook CRITICAL] acme: var limit — main:var_99_1d"
    assert body.splitlines() == [
        VAR.message, "",
        "tenant: acme", "kind: var_limit", "severity: critical", "subject: main:var_99_1d",
        "raised at: 2026-09-30 21:15:07 UTC",
        "assets: BTC, ETH", "portfolio_id: main", "var_usd: 123,457",
    ]  # nested and null details stay in ops.alerts


def test_resolution_message_says_resolved_and_when() -> None:
    resolved = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    title, body = format_message(VAR, "resolved", RAISED, resolved)
    assert title.startswith("[Coinbook RESOLVED] acme: var limit")
    assert body.startswith("Resolved: 1-day 99 % VaR")
    assert "resolved at: 2026-10-01 08:00:00 UTC" in body.splitlines()
    assert notify_type(VAR, "resolved") == "success"
    assert notify_type(VAR, "raised") == "failure"
    assert notify_type(Alert("a", "k", "warning", "s", "m"), "raised") == "warning"


def test_many_details_are_capped() -> None:
    alert = Alert("acme", "k", "warning", "s", "m", {f"d{i:02d}": i for i in range(20)})
    _, body = format_message(alert)
    assert "d11: 11" in body and "d12: 12" not in body
    assert body.splitlines()[-1] == "(+8 more details in ops.alerts)"


def test_targets_take_their_tenant_severity_and_kinds() -> None:
    assert wants(target(), VAR)  # global
    assert wants(target("acme"), VAR)
    assert not wants(target("bluefin"), VAR)
    info = Alert("acme", "var_limit", "info", "s", "m")
    assert not wants(target(min_severity="warning"), info)
    assert wants(target(min_severity="info"), info)
    assert not wants(target(min_severity="critical"), Alert("acme", "stale_price", "warning", "BNB", "m"))
    assert wants(target(kinds={"var_limit", "stale_price"}), VAR)
    assert not wants(target(kinds={"stale_price"}), VAR)


def test_sent_once_failed_retried_up_to_the_cap() -> None:
    assert is_due([])
    assert not is_due(["sent"])
    assert not is_due(["failed", "failed", "sent"])
    assert is_due(["failed"] * 4, cap=5)
    assert not is_due(["failed"] * 5, cap=5)


def test_plan_sends_raises_and_resolutions_only_to_who_heard_the_raise() -> None:
    heard, deaf, quiet = target(key="heard"), target(key="deaf"), target(key="quiet", resolved=False)
    raised = AlertEvent(1, VAR, "raised")
    resolved = AlertEvent(2, VAR, "resolved")
    history = {("acme", 2, "raised", "heard"): ["failed", "sent"], ("acme", 2, "raised", "quiet"): ["sent"],
               ("acme", 1, "raised", "deaf"): ["sent"]}
    due = plan([raised, resolved], [heard, deaf, quiet], history)
    assert [(ev.alert_id, ev.event, t.key) for ev, t in due] == [
        (1, "raised", "heard"), (1, "raised", "quiet"),  # 'deaf' already has alert 1
        (2, "resolved", "heard"),  # 'deaf' was never told of alert 2; 'quiet' takes no resolutions
    ]
    history[("acme", 2, "resolved", "heard")] = ["sent"]
    history[("acme", 1, "raised", "heard")] = ["failed"] * 5
    assert [(ev.alert_id, t.key) for ev, t in plan([raised, resolved], [heard, deaf, quiet], history)] == [
        (1, "quiet")]


def test_url_lists_split_on_whitespace_and_commas_but_keep_commas_inside_a_url() -> None:
    assert split_urls(None) == [] and split_urls("  ") == []
    assert split_urls("json://a/x, slack://T/B/C\nmailto://u:p@h?to=a@x.org,b@y.org  form://h/p") == [
        "json://a/x", "slack://T/B/C", "mailto://u:p@h?to=a@x.org,b@y.org", "form://h/p"]


def test_targets_are_stored_without_their_secrets() -> None:
    url = "slack://T1234ABCD/B5678EFGH/SecretWebhookToken9876/#alerts"
    t = make_target(url)
    assert t.key == target_key(url) and len(t.key) == 64
    assert "SecretWebhookToken9876" not in t.label and t.label.startswith("slack://")
    assert url not in repr(t)
    mail = make_target("mailto://ops:hunter2pass@example.com?to=desk@example.com")
    assert "hunter2pass" not in mail.label
    assert make_target("nonsense://whatever").label == "nonsense://(unreadable URL)"
    error = "POST to https://hooks.slack.com/services/T1234ABCD/B5678EFGH/SecretWebhookToken9876 returned 404"
    assert "SecretWebhookToken9876" not in scrub(error, url, t.label)


def _notify_settings() -> NotifySettings:
    """What the `notifier` resource is given: COINBOOK_NOTIFY_* read by the settings (pipelines/settings.py)."""
    settings = CoinbookSettings(_env_file=None)
    return NotifySettings(settings.notify_urls.get_secret_value() if settings.notify_urls else None,
                          settings.notify_min_severity)


def test_global_targets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINBOOK_NOTIFY_URLS", "json://127.0.0.1:9/a json://127.0.0.1:9/b")
    monkeypatch.setenv("COINBOOK_NOTIFY_MIN_SEVERITY", "Critical")
    targets = global_targets(_notify_settings())
    assert [t.min_severity for t in targets] == ["critical", "critical"]
    assert all(t.tenant_id is None and t.kinds is None for t in targets)
    monkeypatch.setenv("COINBOOK_NOTIFY_MIN_SEVERITY", "loud")
    assert [t.min_severity for t in global_targets(_notify_settings())] == ["warning", "warning"]
    monkeypatch.delenv("COINBOOK_NOTIFY_URLS")
    assert global_targets(_notify_settings()) == []
    assert resolve_url("env:ACME_HOOK", {"ACME_HOOK": "json://h/p"}) == "json://h/p"
    assert resolve_url("env:UNSET", {}) is None
    assert resolve_url("json://h/p", {}) == "json://h/p"
