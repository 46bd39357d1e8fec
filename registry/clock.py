"""Time in UTC. SQLite hands timestamps back naive; they were written in UTC."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)
