"""Realistic generated customer rows for tests and benchmarks (valid checksums unless asked otherwise)."""

import csv
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from stdnum import luhn
from stdnum.util import get_cc_module

HEADERS = (
    "Kundnummer", "Namn", "Organisationsnummer", "Momsregistreringsnummer", "E-post", "Telefon",
    "Adress", "Postnummer", "Ort", "Land", "Betalningsvillkor", "Anteckningar",
)  # fmt: skip
VAT_STATES = ("DE", "FI", "DK", "NL", "AT")
_VAT_LENGTH = {"DE": 9, "FI": 8, "DK": 8, "AT": 8, "PL": 10, "EL": 9}
# Numbers that are not all digits, or whose check digit is not their last one: a block of 100 candidates
# still holds a valid one.
_VAT_FORMAT = {
    "IT": lambda c: f"IT{1000000 + c // 10:07d}001{c % 10}",  # company, office 001, check digit
    "ES": lambda c: f"ESB{10000000 + c:08d}",
    "NO": lambda c: f"NO{900000000 + c:09d}MVA",
    "CH": lambda c: f"CHE{100000000 + c:09d}MWST",
    "GB": lambda c: f"GB{100000000 + c:09d}",
}


# Two check digits, made rather than searched for (a search tries some fifty candidates).
def _fr_vat(i: int) -> str:
    siren = f"{40000000 + i:08d}"
    siren += luhn.calc_check_digit(siren)
    return f"FR{int(siren + '12') % 97:02d}{siren}"


def _be_vat(i: int) -> str:
    body = f"0{4000000 + i:07d}"
    return f"BE{body}{97 - int(body) % 97:02d}"


_VAT_MADE = {"FR": _fr_vat, "BE": _be_vat}


def org_number(i: int) -> str:
    """A valid Swedish org number for index i (third digit 6: a legal entity, not a person)."""
    body = f"55{6000000 + i % 4000000:07d}"
    if i >= 4_000_000:
        raise ValueError("index too large")
    number = body + luhn.calc_check_digit(body)
    return f"{number[:6]}-{number[6:]}"


@cache
def vat_number(state: str, i: int) -> str:
    """The i-th valid VAT number of a member state: the first valid one in its own block of 100 candidates,
    so different i never give the same number."""
    if state in _VAT_MADE:
        return _VAT_MADE[state](i)
    module = get_cc_module("gr" if state == "EL" else state.lower(), "vat")
    for candidate in range(i * 100, i * 100 + 100):
        if state == "NL":
            number = f"NL{100000000 + candidate:09d}B01"
        elif state == "AT":
            number = f"ATU{10000000 + candidate:08d}"
        elif state in _VAT_FORMAT:
            number = _VAT_FORMAT[state](candidate)
        else:
            number = f"{state}{10 ** (_VAT_LENGTH[state] - 1) + candidate:0{_VAT_LENGTH[state]}d}"
        if module.is_valid(number):
            return number
    raise ValueError(f"no valid {state} number near {i}")


COUNTRY_NAMES = {
    "DE": "Deutschland",
    "FI": "Suomi",
    "DK": "Danmark",
    "NL": "Nederländerna",
    "AT": "Österreich",
}


def customer_row(i: int, *, eu_every: int = 0, unique_vat: int = 500) -> list[str]:
    """Row i: a Swedish business, or (every `eu_every`-th row) an EU business with one of `unique_vat` numbers."""
    if eu_every and i % eu_every == 0:
        k = (i // eu_every) % unique_vat
        state = VAT_STATES[k % len(VAT_STATES)]
        return [
            str(100000 + i), f"Europa Kunde {i} GmbH", "", vat_number(state, k // len(VAT_STATES)),
            f"rechnung{i}@kunde.example", "+49 30 123456", f"Hauptstraße {i % 200 + 1}", f"{10000 + i % 80000}",
            "Berlin", COUNTRY_NAMES[state], "30", "",
        ]  # fmt: skip
    return [
        str(100000 + i), f"Kund {i} AB", org_number(i), "", f"faktura{i}@kund{i}.example.se",
        f"08-{i % 1000:03d} {i % 100:02d} {i % 97:02d}", f"Storgatan {i % 150 + 1}", f"{11000 + i % 88999:05d}",
        "Stockholm", "Sverige", "30", "",
    ]  # fmt: skip


def rows(n: int, **kw: int) -> Iterator[list[str]]:
    for i in range(n):
        yield customer_row(i, **kw)


def write_csv(path: Path, n: int, *, delimiter: str = ";", extra: list[list[str]] | None = None, **kw: int) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        writer.writerow(HEADERS)
        writer.writerows(rows(n, **kw))
        writer.writerows(extra or [])
    return path
