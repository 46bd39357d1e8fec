"""A customer roster as accountants export it, for the import benchmark and its tests: mostly Swedish businesses
(some with VAT numbers), EU businesses with VAT numbers of several member states, non-EU businesses, a few sole
traders with a personnummer, and about one row in a hundred that fails.

Every hundred rows hold the same mix, in an order shuffled once, so any 100 consecutive rows have the stated
proportions; the failing row of each hundred moves through the hundred, so every kind of row fails sometimes.
Every number is unique in the file and valid (the failing rows' one fault aside), so a second import of the file
matches every row that went in the first time.
"""

import csv
import random
import unicodedata
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from stdnum import luhn

from tests.fakes.nordic import CITY, FIRST, LAST, STREET
from tests.fakes.rows import HEADERS, org_number, vat_number

ROSTER_HEADERS = (*HEADERS[:2], "Kundtyp", *HEADERS[2:])
# Of each 100 rows.
MIX = {"swedish": 56, "eu": 28, "non_eu": 14, "sole_trader": 2}
# VAT prefixes by weight.
EU_STATES = {"DE": 24, "FI": 10, "DK": 12, "NL": 12, "FR": 10, "AT": 5, "BE": 6, "IT": 6, "ES": 6, "PL": 5, "EL": 4}
NON_EU = {"NO": 40, "GB": 25, "CH": 15, "US": 15, "IS": 5}
# The names of each country the exports use: Swedish, the country's own, English, a code.
COUNTRY = {
    "DE": ("Tyskland", "Deutschland", "DE"), "FI": ("Finland", "Suomi"), "DK": ("Danmark", "Denmark"),
    "NL": ("Nederländerna", "Netherlands"), "FR": ("Frankrike", "France"), "AT": ("Österrike", "Austria"),
    "BE": ("Belgien",), "IT": ("Italien",), "ES": ("Spanien",), "PL": ("Polen",), "EL": ("Grekland", "GR"),
    "NO": ("Norge", "Norway"), "GB": ("Storbritannien", "United Kingdom"), "CH": ("Schweiz",), "US": ("USA",),
    "IS": ("Island",),
}  # fmt: skip
_LANG = {"DE": "de", "AT": "de", "CH": "de", "FI": "fi", "DK": "da", "NO": "da"}
_SUFFIX = {"DE": "GmbH", "AT": "GmbH", "CH": "AG", "FI": "Oy", "DK": "ApS", "NO": "AS", "NL": "B.V.", "FR": "SARL",
           "BE": "SPRL", "IT": "S.r.l.", "ES": "S.L.", "PL": "Sp. z o.o.", "EL": "A.E.", "GB": "Ltd",
           "US": "Inc.", "IS": "ehf."}  # fmt: skip
_PHONE = {"DE": "+49", "AT": "+43", "CH": "+41", "FI": "+358", "DK": "+45", "NO": "+47", "NL": "+31",
          "FR": "+33", "BE": "+32", "IT": "+39", "ES": "+34", "PL": "+48", "EL": "+30", "GB": "+44", "US": "+1",
          "IS": "+354"}  # fmt: skip
_CAPITAL = {"NL": "Amsterdam", "FR": "Lyon", "BE": "Bruxelles", "IT": "Milano", "ES": "Madrid", "PL": "Kraków",
            "EL": "Athína", "GB": "London", "US": "New York", "IS": "Reykjavík"}  # fmt: skip
_TERMS = ("30", "30", "30", "30", "10", "15", "20", "30 dagar", "netto 30", "30 days", "14 Tage")
_NOTES = ("", "", "", "", "", "", "Faktura via e-post", "Ring först", "Rabatt 5 %", "Kreditgräns 50 000 kr")


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


class RosterRow(NamedTuple):
    cells: list[str]
    kind: str  # a key of MIX
    fails: bool


def _pattern(seed: int) -> list[str]:
    kinds = [kind for kind, count in MIX.items() for _ in range(count)]
    random.Random(seed).shuffle(kinds)
    return kinds


def roster(n: int, seed: int = 14) -> Iterator[RosterRow]:
    """The first n rows of the roster; the same seed gives the same rows."""
    r = random.Random(seed)
    pattern = _pattern(seed)
    failing_at = list(range(100))
    random.Random(seed + 1).shuffle(failing_at)
    numbers: Counter[str] = Counter()  # the next unique number of each VAT prefix (and of sole traders)
    for i in range(n):
        kind = pattern[i % 100]
        fails = i % 100 == failing_at[(i // 100) % 100]
        if kind == "swedish":
            cells = _swedish(r, i)
        elif kind == "sole_trader":
            cells = _sole_trader(r, i, numbers)
        else:
            cells = _foreign(r, i, kind, numbers)
        if fails:
            _break(r, cells, kind)
        yield RosterRow(cells, kind, fails)


def write_roster(path: Path, n: int, seed: int = 14) -> Counter[str]:
    """Writes the roster as a ';' CSV; returns how many rows of each kind it holds, and how many fail."""
    mix: Counter[str] = Counter()
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=";", lineterminator="\n")
        writer.writerow(ROSTER_HEADERS)
        for row in roster(n, seed):
            writer.writerow(row.cells)
            mix[row.kind] += 1
            mix["failing"] += row.fails
    return mix


def _row(i: int, name: str, kind: str, org: str, vat: str, email: str, phone: str, street: str, postal: str,
         city: str, country: str, r: random.Random) -> list[str]:  # fmt: skip
    return [str(100000 + i), name, kind, org, vat, email, phone, street, postal, city, country, r.choice(_TERMS),
            r.choice(_NOTES)]  # fmt: skip


def _swedish(r: random.Random, i: int) -> list[str]:
    org = org_number(i)
    digits = org.replace("-", "")
    vat = ""
    if r.random() < 0.35:  # a third or so give their VAT number too, some with spaces
        vat = f"SE{digits}01" if r.random() < 0.8 else f"SE {digits[:6]}-{digits[6:]} 01"
    name = f"{r.choice(LAST['sv'])} {r.choice(('Bygg', 'Konsult', 'Måleri', 'Redovisning', 'Handel'))} {i} AB"
    postal = f"{11000 + i % 88999:05d}"
    return _row(
        i, name, "Företag", org if r.random() < 0.85 else digits, vat, f"faktura{i}@kund{i}.example.se",
        f"08-{i % 1000:03d} {i % 100:02d} {i % 97:02d}", f"{r.choice(STREET['sv'])} {i % 150 + 1}",
        postal if r.random() < 0.7 else f"{postal[:3]} {postal[3:]}", r.choice(CITY["sv"]),
        r.choice(("Sverige", "Sverige", "Sverige", "Sverige", "SE", "Sweden", "")), r,
    )  # fmt: skip


def _sole_trader(r: random.Random, i: int, numbers: Counter[str]) -> list[str]:
    """A sole trader (enskild firma): the owner's personnummer is the business's number."""
    k = numbers["personnummer"]
    numbers["personnummer"] += 1
    born = f"{60 + k % 40:02d}{1 + k % 12:02d}{1 + k % 28:02d}"
    body = f"{born}{k // 840 % 1000:03d}"  # 840 days of birth in turn, then the next serial
    number = f"{born}-{body[6:]}{luhn.calc_check_digit(body)}"
    first, last = r.choice(FIRST["sv"]), r.choice(LAST["sv"])
    return _row(
        i, f"{first} {last}", "Enskild firma", number, "", f"{_ascii(first.lower())}.{i}@example.se",
        f"070-{i % 1000:03d} {i % 100:02d} {i % 97:02d}", f"{r.choice(STREET['sv'])} {i % 90 + 1}",
        f"{11000 + i % 88999:05d}", r.choice(CITY["sv"]), "Sverige", r,
    )  # fmt: skip


def _foreign(r: random.Random, i: int, kind: str, numbers: Counter[str]) -> list[str]:
    states = EU_STATES if kind == "eu" else NON_EU
    state = r.choices(list(states), list(states.values()))[0]
    vat = org = ""
    if state not in ("US", "IS"):
        vat = vat_number.__wrapped__(state, numbers[state])
        numbers[state] += 1
        if state == "CH":
            vat = f"CHE-{vat[3:6]}.{vat[6:9]}.{vat[9:12]} MWST"
        elif state == "NO":
            org = vat[2:11]  # the organisasjonsnummer
        elif state == "DK":
            org = vat[2:]  # the CVR number
        elif state == "FI":
            org = f"{vat[2:9]}-{vat[9]}"  # the Y-tunnus
    elif state == "US":
        org = f"{10 + i % 89:02d}-{i % 10_000_000:07d}"  # an EIN
    lang = _LANG.get(state)
    name = f"{r.choice(LAST[lang]) if lang else 'Nordic Trade'} {i} {_SUFFIX[state]}"
    city = r.choice(CITY[lang]) if lang else _CAPITAL[state]
    street = f"{r.choice(STREET[lang])} {i % 200 + 1}" if lang else f"{i % 200 + 1} Main Street"
    return _row(
        i, name, "Företag", org, vat, f"invoice{i}@customer{i}.example.com", f"{_PHONE[state]} {i % 10_000_000:07d}",
        street, f"{10000 + i % 80000}", city, r.choice(COUNTRY[state]), r,
    )  # fmt: skip


def _break(r: random.Random, cells: list[str], kind: str) -> None:
    """Give a row one fault its import refuses: a check digit, an e-mail, payment terms or a country."""
    fault = r.randrange(4)
    # Only Swedish numbers and VAT numbers are checked (other countries' business numbers are kept as given);
    # a Dutch VAT number's last digits are a free branch number.
    column = 3 if kind in ("swedish", "sole_trader") else 4
    if fault == 0 and cells[column] and not cells[column].startswith("NL"):
        text = cells[column]
        at = max(k for k, c in enumerate(text) if c.isdigit())
        cells[column] = f"{text[:at]}{(int(text[at]) + 1) % 10}{text[at + 1 :]}"
    elif fault <= 1:
        cells[5] = cells[5].replace("@", " at ")
    elif fault == 2:
        cells[11] = "sista dagen i månaden"
    else:
        cells[10] = "Atlantis"
