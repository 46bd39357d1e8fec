"""Normalisation of registry values, built on python-stdnum.

Every function takes the value as a source supplied it (surrounding whitespace is ignored) and returns the
stored form, or raises ValueError with a short message naming the problem and the value. Banking fields are
the exception: the API stores them as supplied, so an invalid one gives a `FieldWarning` instead.

These run once per row on imports of a million rows: patterns are compiled at import, stdnum country modules
are looked up once, and nothing goes through the generic (slow) `stdnum.eu.vat`.
"""

import datetime
import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from stdnum import bic as _bic
from stdnum import iban as _iban
from stdnum import numdb
from stdnum.ch import uid as _ch_uid
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)
from stdnum.se import orgnr as _orgnr
from stdnum.se import personnummer as _personnummer
from stdnum.util import get_cc_module

from registry.countries import EU_MEMBER_STATES, ISO_ALPHA2, VIES_PREFIXES, country_code, vat_prefix
from registry.errors import FieldWarning

if TYPE_CHECKING:
    from stdnum.util import NumberValidationModule

__all__ = [
    "bankgiro",
    "bic",
    "email",
    "has_personnummer_shape",
    "has_swedish_org_shape",
    "iban",
    "infer_customer_type",
    "infer_supplier_type",
    "looks_like_personnummer",
    "mask_personnummer",
    "org_number",
    "payment_terms",
    "personnummer",
    "plusgiro",
    "swedish_org_number",
    "vat_number",
    "yes_no",
]


def _reason(exc: ValidationError) -> str:
    if isinstance(exc, InvalidChecksum):
        return "checksum"
    if isinstance(exc, InvalidLength):
        return "wrong length"
    if isinstance(exc, InvalidFormat):
        return "format"
    if isinstance(exc, InvalidComponent):
        return "invalid part"
    return "invalid"


# --- Fast paths ---------------------------------------------------------------------------------------------
# python-stdnum cleans its input character by character, too slow to run on every row. The common case, plain
# ASCII input that is valid, is decided here; anything else (invalid, or unusual characters stdnum knows how to
# clean) goes to stdnum, which gives the verdict and the reason. The fast checks accept only what stdnum
# accepts (tests/registry/test_normalize.py compares them).

_LUHN_DOUBLED: Final = str.maketrans("0123456789", "0246813579")


def _luhn_checksum(digits: str) -> int:
    """Luhn checksum of an ASCII digit string (0 for a valid number)."""
    summed = (digits[-1::-2] + digits[-2::-2].translate(_LUHN_DOUBLED)).encode("ascii")
    return (sum(summed) - 48 * len(summed)) % 10


def _luhn_ok(digits: str) -> bool:
    return _luhn_checksum(digits) == 0


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(w * (ord(c) - 48) for w, c in zip(weights, digits, strict=True))


def _weighted_mod11(digits: str, weights: tuple[int, ...]) -> int:
    return _weighted(digits, weights) % 11


def _mod_11_10_ok(digits: str) -> bool:
    check = 5
    for c in digits:
        check = (((check or 10) * 2) % 11 + ord(c) - 48) % 10
    return check == 1


def _plain_digits(text: str, length: int) -> bool:
    return len(text) == length and text.isascii() and text.isdigit()


# --- Swedish identity numbers -------------------------------------------------------------------------------

_ORG_SEPARATORS: Final = str.maketrans("", "", " -.")
_ID_SEPARATORS: Final = str.maketrans("", "", " -+.")
_SWEDISH_ORG_SHAPE: Final = re.compile(r"(?:16)?\d{6}[-\s]?\d{4}")
_LAST_FOUR_DIGITS: Final = re.compile(r"\d(?=(?:\D*\d){0,3}\D*$)")


def _mask_tail(text: str) -> str:
    """Hide the last four digits so messages never carry a full personnummer."""
    return _LAST_FOUR_DIGITS.sub("*", text)


def swedish_org_number(value: str) -> str:
    """Swedish organisationsnummer → "NNNNNN-NNNN". Accepts "5560360793", "556036-0793", "16556036-0793"."""
    text = value.strip()
    if len(text) == 11 and text[6] == "-" and _plain_digits(digits := text[:6] + text[7:], 10) and _luhn_ok(digits):
        return text  # the usual "NNNNNN-NNNN": stored as it is
    digits = text.translate(_ORG_SEPARATORS)
    if len(digits) == 12 and digits.startswith("16"):
        digits = digits[2:]
    if not (_plain_digits(digits, 10) and _luhn_ok(digits)):
        try:
            digits = _orgnr.validate(digits)
        except ValidationError as exc:
            shown = _mask_tail(text) if has_personnummer_shape(text) else text  # a mistyped personnummer
            raise ValueError(f"{shown!r} is not a valid Swedish organisation number ({_reason(exc)})") from None
    return f"{digits[:6]}-{digits[6:]}"


_PERSONNUMMER: Final = re.compile(r"(\d\d)?(\d\d)(\d\d)(\d\d)([-+]?)(\d{4})", re.ASCII)


def _birth_date(century: str | None, yy: str, mm: str, dd: str, plus: bool) -> datetime.date | None:
    """The birth date, or None if there is no such date. Without a century: the latest such date not in the
    future, a century earlier with "+" (aged 100 or more)."""
    try:
        if century is not None:
            if century not in ("18", "19", "20"):  # "16…" is the 12-digit form of an org number
                return None
            return datetime.date(int(century + yy), int(mm), int(dd))
        today = datetime.date.today()
        born = datetime.date(today.year // 100 * 100 + int(yy), int(mm), int(dd))
        if born > today:
            born = born.replace(year=born.year - 100)
        if plus:
            born = born.replace(year=born.year - 100)
    except ValueError:
        return None
    return born


def personnummer(value: str) -> str:
    """Swedish personnummer (10 or 12 digits, "-" or "+" separator) → "YYYYMMDD-NNNN" (date and Luhn checked).

    Samordningsnummer (day + 60) are rejected with their own message: python-stdnum does not support them and
    the API documents org_number of an individual as the personnummer. Messages hide the last four digits.
    """
    text = value.strip()
    match = _PERSONNUMMER.fullmatch(text)
    if match is None:
        # Not plain ASCII "[YY]YYMMDD[-+]NNNN": stdnum cleans unusual characters (spaces, Unicode dashes and
        # digits) or names the problem.
        match = _PERSONNUMMER.fullmatch(_personnummer.compact(text))
        if match is None:
            try:
                _personnummer.validate(text)
            except ValidationError as exc:
                raise ValueError(f"{_mask_tail(text)!r} is not a valid personnummer ({_reason(exc)})") from None
            raise ValueError(f"{_mask_tail(text)!r} is not a valid personnummer (format)")
    century, yy, mm, dd, separator, serial = match.groups()
    born = _birth_date(century, yy, mm, dd, separator == "+")
    if born is None:
        if 61 <= int(dd) <= 91 and _luhn_ok(yy + mm + dd + serial):
            raise ValueError(
                f"{_mask_tail(text)!r} is a samordningsnummer (co-ordination number); only personnummer are supported"
            )
        raise ValueError(f"{_mask_tail(text)!r} is not a valid personnummer (no such birth date)")
    if not _luhn_ok(yy + mm + dd + serial):
        raise ValueError(f"{_mask_tail(text)!r} is not a valid personnummer (checksum)")
    if born > datetime.date.today():
        raise ValueError(f"{_mask_tail(text)!r} is not a valid personnummer (birth date in the future)")
    return f"{born:%Y%m%d}-{serial}"


@lru_cache(maxsize=8)  # a row asks about its org number several times (type inference, normalising, warnings)
def looks_like_personnummer(value: str) -> bool:
    """True for a valid personnummer. Every personnummer also passes the organisation-number Luhn check; legal
    entities have 20–99 in the month position (3rd digit >= 2), people a real month 01–12."""
    digits = value.strip().translate(_ID_SEPARATORS)
    if len(digits) == 10:
        month_tens = digits[2]
    elif len(digits) == 12:
        month_tens = digits[4]
    else:
        return False
    if month_tens not in "01" or not digits.isdigit():
        return False
    try:
        personnummer(value)
    except ValueError:
        return False
    return True


def mask_personnummer(value: str) -> str:
    """For listings: "19880320-****". Never raises and never reveals the last four digits, even of a value
    that is not a valid personnummer."""
    try:
        return personnummer(value)[:9] + "****"
    except ValueError:
        return _mask_tail(value.strip())


def org_number(value: str, country: str | None = None) -> str:
    """Organisation number for storage. `country` is an ISO alpha-2 code (or None).

    SE, or no country and a value shaped like a Swedish number: validated, "NNNNNN-NNNN"; a sole trader's
    personnummer becomes its 10-digit organisation-number form. Other countries: registries differ, so the
    value is only compacted (spaces removed, upper case).
    """
    text = value.strip()
    if not text:
        raise ValueError("org number is empty")
    if country == "SE" or (country is None and _SWEDISH_ORG_SHAPE.fullmatch(text)):
        if looks_like_personnummer(text):
            return personnummer(text)[2:]
        return swedish_org_number(text)
    return "".join(text.split()).upper()


def has_swedish_org_shape(value: str) -> bool:
    """Shaped like a Swedish organisation number or personnummer (10 or 12 digits), valid or not."""
    digits = value.strip().translate(_ID_SEPARATORS)
    return len(digits) in (10, 12) and digits.isdigit()


def has_personnummer_shape(value: str) -> bool:
    """Shaped like a personnummer, valid or not: 12 digits not starting "16", or 10 with a month position
    below 20."""
    digits = value.strip().translate(_ID_SEPARATORS)
    if not (digits.isascii() and digits.isdigit()):
        return False
    return (len(digits) == 12 and not digits.startswith("16")) or (len(digits) == 10 and digits[2] in "01")


def _is_swedish_org_number(value: str) -> bool:
    try:
        swedish_org_number(value)
    except ValueError:
        return False
    return True


# --- VAT numbers --------------------------------------------------------------------------------------------

_VAT_SEPARATORS: Final = str.maketrans("", "", " \t\u00a0-./,:")
# Prefixes validated with python-stdnum; every other country's number is kept as supplied (compacted): their
# stdnum "vat" modules are often a different tax id than what businesses write in a VAT field.
_VALIDATED_VAT_PREFIXES: Final = VIES_PREFIXES | {"GB", "NO", "CH"}
_KNOWN_VAT_PREFIXES: Final = ISO_ALPHA2 | {"EL", "XI"}
_STDNUM_CC: Final = {"EL": "gr", "XI": "gb"}


def _fast_se(rest: str) -> bool:
    return _plain_digits(rest, 12) and rest.endswith("01") and _luhn_ok(rest[:10])


def _fast_dk(rest: str) -> bool:
    return _plain_digits(rest, 8) and rest[0] != "0" and _weighted_mod11(rest, (2, 7, 6, 5, 4, 3, 2, 1)) == 0


def _fast_fi(rest: str) -> bool:
    return _plain_digits(rest, 8) and _weighted_mod11(rest, (7, 9, 10, 5, 8, 4, 2, 1)) == 0


def _fast_de(rest: str) -> bool:
    return _plain_digits(rest, 9) and rest[0] != "0" and _mod_11_10_ok(rest)


def _fast_no(rest: str) -> bool:
    return (
        len(rest) == 12
        and rest.endswith("MVA")
        and _plain_digits(rest[:9], 9)
        and _weighted_mod11(rest[:9], (3, 2, 7, 6, 5, 4, 3, 2, 1)) == 0
    )


def _fast_nl(rest: str) -> bool:
    """A BSN/RSIN-based number (eleven test), or a newer one (ISO 7064 mod 97 over "NL…B…", letters as 10-35)."""
    if not (len(rest) == 12 and rest[9] == "B" and _plain_digits(rest[:9] + rest[10:], 11)):
        return False
    if int(rest[:9]) == 0 or int(rest[10:]) == 0:
        return False
    eleven = (_weighted(rest[:8], (9, 8, 7, 6, 5, 4, 3, 2)) - ord(rest[8]) + 48) % 11 == 0
    return eleven or int(f"2321{rest[:9]}11{rest[10:]}") % 97 == 1


def _fast_at(rest: str) -> bool:
    return (
        len(rest) == 9
        and rest[0] == "U"
        and _plain_digits(rest[1:], 8)
        and (6 - _luhn_checksum(rest[1:8])) % 10 == ord(rest[8]) - 48
    )


def _fast_it(rest: str) -> bool:
    office = rest[7:10]
    return (
        _plain_digits(rest, 11)
        and int(rest[:7]) != 0
        and ("001" <= office <= "100" or office in ("120", "121", "888", "999"))
        and _luhn_ok(rest)
    )


def _fast_pl(rest: str) -> bool:
    return _plain_digits(rest, 10) and _weighted_mod11(rest, (6, 5, 7, 2, 3, 4, 5, 6, 7, -1)) == 0


def _fast_el(rest: str) -> bool:
    if not _plain_digits(rest, 9):
        return False
    checksum = 0
    for c in rest[:8]:
        checksum = checksum * 2 + ord(c) - 48
    return checksum * 2 % 11 % 10 == ord(rest[8]) - 48


def _fast_be(rest: str) -> bool:
    return _plain_digits(rest, 10) and rest[0] in "01" and int(rest) > 0 and (int(rest[:8]) + int(rest[8:])) % 97 == 0


def _fast_fr(rest: str) -> bool:
    """All-digit keys of a SIREN; letter keys and Monaco's numbers go to stdnum."""
    return (
        _plain_digits(rest, 11)
        and rest[2:5] != "000"
        and _luhn_ok(rest[2:])
        and int(rest[:2]) == int(rest[2:] + "12") % 97
    )


def _fast_gb(rest: str) -> bool:
    """Standard and branch numbers; government departments and health authorities go to stdnum."""
    if not (len(rest) in (9, 12) and rest.isascii() and rest.isdigit()):
        return False
    checksum = _weighted(rest[:9], (8, 7, 6, 5, 4, 3, 2, 10, 1)) % 97
    return checksum in (0, 42, 55) if int(rest[:3]) >= 100 else checksum == 0


def _fast_ch(rest: str) -> bool:
    """ "E" and the UID's digits (the prefix is CH), then the suffix: MWST, TVA, IVA or TPV."""
    if not (rest[:1] == "E" and _plain_digits(rest[1:10], 9) and rest[10:] in ("MWST", "TVA", "IVA", "TPV")):
        return False
    return str((11 - _weighted(rest[1:9], (5, 4, 3, 2, 7, 6, 5, 4))) % 11) == rest[9]


# Fast checks of the commonest prefixes (the compact number after the prefix, exactly as stdnum checks it).
_FAST_VAT: Final[dict[str, Callable[[str], bool]]] = {
    "SE": _fast_se,
    "DK": _fast_dk,
    "FI": _fast_fi,
    "DE": _fast_de,
    "NO": _fast_no,
    "NL": _fast_nl,
    "AT": _fast_at,
    "IT": _fast_it,
    "PL": _fast_pl,
    "EL": _fast_el,
    "BE": _fast_be,
    "FR": _fast_fr,
    "GB": _fast_gb,
    "CH": _fast_ch,
}


@lru_cache(maxsize=64)
def _vat_module(prefix: str) -> "NumberValidationModule | None":
    return get_cc_module(_STDNUM_CC.get(prefix, prefix.lower()), "vat")


def _vat_fallback(prefix: str, candidate: str) -> str | None:
    """Forms the stdnum module rejects but businesses write: Norwegian numbers without the MVA suffix, Swiss
    UIDs without the MWST/TVA/IVA suffix."""
    try:
        if prefix == "NO" and not candidate.endswith("MVA"):
            module = _vat_module("NO")
            return None if module is None else module.validate(candidate + "MVA")
        if prefix == "CH":
            return _ch_uid.validate(candidate)
    except ValidationError:
        return None
    return None


def vat_number(value: str, country: str | None = None) -> str:
    """VAT number → compact, upper case, with the VAT prefix ("SE556036079301", "EL094259216").

    `country` (ISO alpha-2) supplies the prefix when the value has none; a value with another country's
    prefix keeps it. GR is written EL; XI (Northern Ireland) and GB are checked with the GB rules; EU states,
    NO and CH are checked with python-stdnum; other countries' numbers are kept compacted as supplied.
    """
    text = value.strip()
    number = text.translate(_VAT_SEPARATORS).upper()
    if not number:
        raise ValueError("VAT number is empty")
    head = number[:2]
    if head == "GR":
        head, number = "EL", "EL" + number[2:]
    expected = vat_prefix(country) if country else None
    if head in _KNOWN_VAT_PREFIXES:  # the country's own prefix or another's (a foreign VAT registration)
        prefix, rest = head, number[2:]
    elif expected is not None:
        prefix, rest = expected, number
    else:
        prefix, rest = "SE", number
        module = _vat_module("SE")
        if not _fast_se(rest) and (module is None or not module.is_valid(rest)):
            raise ValueError(f"{text!r} has no country prefix: write it as e.g. SE556036079301 or give the country")
    if prefix not in _VALIDATED_VAT_PREFIXES:
        return number
    fast = _FAST_VAT.get(prefix)
    if fast is not None and fast(rest):
        return prefix + rest
    module = _vat_module(prefix)
    if module is None:  # pragma: no cover - every validated prefix has a stdnum module
        return prefix + rest
    candidate = prefix + rest
    try:
        result = module.validate(candidate)
    except ValidationError as exc:
        fallback = _vat_fallback(prefix, candidate)
        if fallback is None:
            raise ValueError(f"{text!r} is not a valid {prefix} VAT number ({_reason(exc)})") from None
        result = fallback
    return result if result.startswith(prefix) else prefix + result


# --- Banking: invalid values are warnings, stored as supplied -----------------------------------------------


def _bank_warning(field: str, text: str, what: str, reason: str) -> FieldWarning:
    """INVALID_IBAN, INVALID_BIC, INVALID_BANKGIRO or INVALID_PLUSGIRO: the value is stored as supplied."""
    message = f"{text!r} is not a valid {what} ({reason}); stored as supplied"
    return FieldWarning(field, f"INVALID_{field.upper()}", message)


_IBAN_DB: Final = numdb.get("iban")
_IBAN_SEPARATORS: Final = str.maketrans("", "", " -.")
_IBAN_STRUCTURE_PART: Final = re.compile(r"([1-9][0-9]*)!([nac])")
_IBAN_CLASSES: Final = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Za-z0-9]"}
_IBAN_LETTERS: Final = str.maketrans({chr(ord("A") + i): str(10 + i) for i in range(26)})


@lru_cache(maxsize=128)
def _iban_bban_pattern(cc: str) -> re.Pattern[str] | None:
    """The BBAN pattern of a country from stdnum's IBAN registry; None where the fast path does not apply
    (unknown country, or stdnum has an extra country-specific IBAN check)."""
    props = _IBAN_DB.info(cc)[0][1]
    if not props or get_cc_module(cc.lower(), "iban") is not None:
        return None
    structure = props.get("bban", "")
    parts = _IBAN_STRUCTURE_PART.sub(lambda m: f"{_IBAN_CLASSES[m.group(2)]}{{{m.group(1)}}}", structure)
    return re.compile(parts)


def _fast_iban(number: str) -> bool:
    if len(number) < 5 or not (number.isascii() and number.isalnum()) or not number[:2].isalpha():
        return False
    pattern = _iban_bban_pattern(number[:2])
    if pattern is None or not pattern.fullmatch(number[4:]):
        return False
    return int((number[4:] + number[:4]).translate(_IBAN_LETTERS)) % 97 == 1


def iban(value: str) -> tuple[str, FieldWarning | None]:
    """IBAN → compact ("SE4550000000058398257466"), or the stripped value plus a warning."""
    text = value.strip()
    number = text.translate(_IBAN_SEPARATORS).upper()
    if _fast_iban(number):
        return number, None
    try:
        return _iban.validate(text), None
    except ValidationError as exc:
        return text, _bank_warning("iban", text, "IBAN", _reason(exc))


_BIC: Final = re.compile(r"[A-Z]{4}[A-Z]{2}[0-9A-Z]{2}(?:[0-9A-Z]{3})?")
_BIC_SEPARATORS: Final = str.maketrans("", "", " -")
_BIC_COUNTRIES: Final = ISO_ALPHA2 | {"XK"}


def bic(value: str) -> tuple[str, FieldWarning | None]:
    """BIC/SWIFT code → compact upper case ("ESSESESS"), or the stripped value plus a warning."""
    text = value.strip()
    number = text.translate(_BIC_SEPARATORS).upper()
    if _BIC.fullmatch(number) and number[4:6] in _BIC_COUNTRIES:
        return number, None
    try:
        return _bic.validate(text), None
    except ValidationError as exc:
        return text, _bank_warning("bic", text, "BIC", _reason(exc))


_GIRO_SEPARATORS: Final = str.maketrans("", "", " -")


def _giro(
    field: str, what: str, value: str, lengths: range, fmt: Callable[[str], str]
) -> tuple[str, FieldWarning | None]:
    text = value.strip()
    digits = text.translate(_GIRO_SEPARATORS)
    if not (digits.isascii() and digits.isdigit()):
        reason = "only digits, spaces and '-' allowed"
    elif len(digits) not in lengths:
        reason = f"{lengths.start}–{lengths.stop - 1} digits expected"
    elif not _luhn_ok(digits):
        reason = "checksum"
    else:
        return fmt(digits), None
    return text, _bank_warning(field, text, what, reason)


def bankgiro(value: str) -> tuple[str, FieldWarning | None]:
    """Bankgiro number (7–8 digits, Luhn) → "NNN-NNNN" / "NNNN-NNNN", or the stripped value plus a warning."""
    return _giro("bankgiro", "bankgiro number", value, range(7, 9), lambda d: f"{d[:-4]}-{d[-4:]}")


def plusgiro(value: str) -> tuple[str, FieldWarning | None]:
    """PlusGiro number (2–8 digits, Luhn) → "NNNNNNN-N", or the stripped value plus a warning."""
    return _giro("plusgiro", "PlusGiro number", value, range(2, 9), lambda d: f"{d[:-1]}-{d[-1]}")


# --- Plain values -------------------------------------------------------------------------------------------

_TERMS: Final = re.compile(
    r"(?:(?:netto|net|n)\s*)?(\d{1,3})(?:[.,]0*)?"
    r"\s*(?:(?:dagar|dag|days|day|dage|dager|tage|tagen|tag|päivää|pv|dgr|d|netto|net)\.?\s*)*",
    re.IGNORECASE,
)
MAX_PAYMENT_TERMS: Final = 365


def payment_terms(value: str | int | float) -> int:
    """Payment terms in days, 0–365: 30, "30", "30,0", "30 dagar", "30 days", "30 Tage", "netto 30"."""
    if value.__class__ is str:
        return _text_terms_cached(value)
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number of days")
    if isinstance(value, int):
        return _days_in_range(value, value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"payment terms must be whole days, got {value!r}")
        return _days_in_range(int(value), value)
    return _text_terms(value)


def _text_terms(value: str) -> int:
    if value.__class__ is str and len(value) <= 3 and value.isascii() and value.isdigit():
        days = int(value)  # the usual "30": what the pattern below would accept, without running it
    else:
        match = _TERMS.fullmatch(value.strip())
        if match is None:
            raise ValueError(f"{value.strip()!r} is not a number of days")
        days = int(match.group(1))
    return _days_in_range(days, value)


# A file writes its terms a handful of ways ("30", "30 dagar", "14 Tage"), once a row.
_text_terms_cached: Final = lru_cache(maxsize=256)(_text_terms)


def _days_in_range(days: int, value: str | int | float) -> int:
    if not 0 <= days <= MAX_PAYMENT_TERMS:
        raise ValueError(f"payment terms must be 0–{MAX_PAYMENT_TERMS} days, got {value!r}")
    return days


_EMAIL_SPLIT: Final = re.compile(r"[;,\s]+")
_EMAIL: Final = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@((?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59}))"
)


def email(value: str) -> str:
    """One or more addresses separated by ';', ',' or whitespace → "a@x.se, b@y.se" (domains lower-cased)."""
    match = _EMAIL.fullmatch(value)
    if match is not None:  # the common case: a single address
        return value[: match.start(1)] + match.group(1).lower()
    addresses: list[str] = []
    for token in _EMAIL_SPLIT.split(value):
        if not token:
            continue
        token = token.strip("<>")
        if token[:7].lower() == "mailto:":
            token = token[7:]
        match = _EMAIL.fullmatch(token)
        if match is None:
            raise ValueError(f"{token!r} is not an e-mail address")
        address = token[: match.start(1)] + match.group(1).lower()
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ValueError("no e-mail address given")
    return ", ".join(addresses)


_YES: Final = frozenset({"true", "t", "yes", "y", "ja", "j", "1", "x", "kylla", "kyllä", "k", "on"})
_NO: Final = frozenset({"false", "f", "no", "n", "nej", "nei", "0", "ei", "e", "off"})


def yes_no(value: str | int | bool) -> bool:
    """true/false, yes/no, ja/nej, kyllä/ei, 1/0, "x" (a ticked box) → bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value in (0, 1):
            return bool(value)
        raise ValueError(f"{value!r} is not a yes/no value")
    key = value.strip().lower()
    if key in _YES:
        return True
    if key in _NO:
        return False
    raise ValueError(f"{value.strip()!r} is not a yes/no value")


# --- Customer / supplier type -------------------------------------------------------------------------------


def _business_type(iso: str | None, org: str | None, kind: str) -> str:
    if iso is None:
        if org and (_is_swedish_org_number(org) or looks_like_personnummer(org)):
            return "swedish_business"
        raise ValueError(f"cannot tell the {kind} type: give {kind}_type or country")
    if iso == "SE":
        return "swedish_business"
    if iso in EU_MEMBER_STATES:
        return "eu_business"
    return "non_eu_business"


def infer_customer_type(country: str | None, org_number: str | None, is_person: bool | None) -> str:
    """individual if the source says it is a person or (no flag, Sweden or no country) the org number is a
    personnummer; else swedish_business / eu_business / non_eu_business by country, or swedish_business for a
    Swedish org number without a country. Raises ValueError when nothing tells."""
    if is_person:
        return "individual"
    iso = country_code(country) if country else None
    if is_person is None and org_number and iso in (None, "SE") and looks_like_personnummer(org_number):
        return "individual"
    return _business_type(iso, org_number, "customer")


def infer_supplier_type(country: str | None, org_number: str | None, is_person: bool | None = None) -> str:
    """Like `infer_customer_type`, but suppliers have no individual type: a person supplier is a business of
    their country (a Swedish sole trader is swedish_business). `is_person` is accepted for symmetry only."""
    iso = country_code(country) if country else None
    return _business_type(iso, org_number, "supplier")
