"""Where the 1m candle sync of a market starts: the window before the last closed daily candle, or where the
last 1m sync stopped if later; never before the history's start."""

from __future__ import annotations

from pipelines.sources.exchanges.market_data import minute_candles_from

HOUR = 3_600_000
DAY = 24 * HOUR
START = 1_700_000_000_000 - (1_700_000_000_000 % DAY)  # a day boundary


def test_first_sync_takes_the_window_before_the_last_daily_candle() -> None:
    daily = {"next_ms": START + 400 * DAY}  # the daily sync stopped after 400 days of history
    assert minute_candles_from(daily, None, START, DAY) == START + 399 * DAY
    assert minute_candles_from(daily, None, START, 6 * HOUR) == START + 400 * DAY - 6 * HOUR


def test_a_later_minute_cursor_wins_and_an_earlier_one_is_left_behind() -> None:
    daily = {"next_ms": START + 400 * DAY}
    assert minute_candles_from(daily, {"next_ms": START + 400 * DAY - HOUR}, START, DAY) == START + 400 * DAY - HOUR
    # a minute cursor older than the window (the pipeline did not run for a week): only the window is fetched
    assert minute_candles_from(daily, {"next_ms": START + 390 * DAY}, START, DAY) == START + 399 * DAY


def test_never_before_the_history_start() -> None:
    assert minute_candles_from(None, None, START, DAY) == START  # no daily candles yet
    assert minute_candles_from({"next_ms": START + 2 * HOUR}, None, START, DAY) == START
