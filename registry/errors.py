"""Shared result types of the registry's validation layer."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldWarning:
    """A problem with one field that does not stop a row from being stored.

    `code` is a stable machine-readable identifier, UPPER_SNAKE like the API's error codes (e.g. "INVALID_IBAN");
    `message` is for people and never contains a full personnummer.
    """

    field: str
    code: str
    message: str
