"""Time in UTC, always tz-aware: what the registry writes and compares."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    """`value` with a time zone: a naive datetime is taken as UTC (SQLite hands back the naive datetimes it was
    given in UTC); an aware one is returned unchanged."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    """`utc` of a nullable column's value."""
    return None if value is None else utc(value)
