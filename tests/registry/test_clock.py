from datetime import UTC, datetime, timedelta, timezone

from registry.clock import now, utc, utc_or_none


def test_a_naive_datetime_is_taken_as_utc() -> None:
    assert utc(datetime(2024, 1, 31, 9, 15)) == datetime(2024, 1, 31, 9, 15, tzinfo=UTC)


def test_an_aware_datetime_is_unchanged() -> None:
    stockholm = datetime(2024, 1, 31, 10, 15, tzinfo=timezone(timedelta(hours=1)))
    assert utc(stockholm) is stockholm


def test_none_stays_none() -> None:
    assert utc_or_none(None) is None
    assert utc_or_none(datetime(2024, 1, 31)) == datetime(2024, 1, 31, tzinfo=UTC)


def test_now_is_aware() -> None:
    assert now().tzinfo is UTC
