import datetime
import random
import re

import pytest
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.eu import vat as stdnum_eu_vat
from stdnum.no import mva as stdnum_no_mva
from stdnum.se import orgnr as stdnum_orgnr
from stdnum.se import personnummer as stdnum_personnummer
from stdnum.util import get_cc_module

from registry.errors import FieldWarning
from registry.normalize import (
    bankgiro,
    bic,
    email,
    has_personnummer_shape,
    has_swedish_org_shape,
    iban,
    infer_customer_type,
    infer_supplier_type,
    looks_like_personnummer,
    mask_personnummer,
    org_number,
    payment_terms,
    personnummer,
    plusgiro,
    swedish_org_number,
    vat_number,
    yes_no,
)
from tests.fakes.rows import vat_number as example_vat_number


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


# --- Swedish organisation numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["556036-0793", "5560360793", " 556036-0793 ", "556036 0793", "16556036-0793"])
def test_swedish_org_number_with_and_without_dash(value: str) -> None:
    assert swedish_org_number(value) == "556036-0793"


def test_swedish_org_number_bad_checksum_names_the_value() -> None:
    with pytest.raises(
        ValueError, match=exactly("'556677-8898' is not a valid Swedish organisation number (checksum)")
    ):
        swedish_org_number("556677-8898")


@pytest.mark.parametrize(("value", "reason"), [("55603607", "wrong length"), ("55603A-0793", "format")])
def test_swedish_org_number_other_problems(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=rf"not a valid Swedish organisation number \({reason}\)"):
        swedish_org_number(value)


def test_swedish_org_number_accepts_what_stdnum_accepts() -> None:
    rng = random.Random(1)
    for _ in range(5000):
        digits = "".join(rng.choice("0123456789") for _ in range(10))
        value = digits[:6] + rng.choice(["", "-", " "]) + digits[6:]
        try:
            ours = swedish_org_number(value)
        except ValueError:
            ours = None
        expected = stdnum_orgnr.format(value) if stdnum_orgnr.is_valid(value) else None
        assert ours == expected, value


def test_swedish_org_number_unicode_dashes_and_digits_via_stdnum() -> None:
    assert swedish_org_number("556036\u20130793") == "556036-0793"  # en dash
    assert swedish_org_number("５５６０３６-０７９３") == "556036-0793"  # full-width digits


# --- Personnummer -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["19880320-0016", "198803200016", "880320-0016", "8803200016", "880320 0016"])
def test_personnummer_forms(value: str) -> None:
    assert personnummer(value) == "19880320-0016"


def test_personnummer_plus_means_a_hundred_years_or_older() -> None:
    assert personnummer("121212+1212") == "19121212-1212"
    assert personnummer("121212-1212") == "20121212-1212"


def test_personnummer_ten_digits_is_never_in_the_future() -> None:
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    yymmdd = f"{tomorrow:%y%m%d}"
    serial = next(s for s in (f"{n:03d}" for n in range(1000)) if _luhn_check_digit(yymmdd + s) is not None)
    number = yymmdd + serial + str(_luhn_check_digit(yymmdd + serial))
    assert personnummer(number).startswith(str(tomorrow.year - 100))


def _luhn_check_digit(partial: str) -> int | None:
    for digit in range(10):
        if luhn.is_valid(partial + str(digit)):
            return digit
    return None


def test_personnummer_invalid_date() -> None:
    with pytest.raises(ValueError, match=exactly("'881320-****' is not a valid personnummer (no such birth date)")):
        personnummer("881320-0016")


def test_personnummer_bad_checksum_hides_the_last_four_digits() -> None:
    with pytest.raises(ValueError, match=exactly("'19880320-****' is not a valid personnummer (checksum)")):
        personnummer("19880320-0018")  # the exact message: "0018" is not in it


def test_personnummer_in_the_future_is_rejected() -> None:
    check = _luhn_check_digit("991231000")
    with pytest.raises(ValueError, match="birth date in the future"):
        personnummer(f"20991231-000{check}")


def test_samordningsnummer_is_rejected_with_its_own_message() -> None:
    with pytest.raises(ValueError, match="samordningsnummer") as info:
        personnummer("701063-2391")
    assert "2391" not in str(info.value)


@pytest.mark.parametrize("value", ["", "abc", "556036-0793", "12345", "16880320-0016"])
def test_personnummer_rejects_other_values(value: str) -> None:
    with pytest.raises(ValueError, match="not a valid personnummer"):
        personnummer(value)


def test_personnummer_agrees_with_stdnum_on_past_dates() -> None:
    rng = random.Random(2)
    for _ in range(5000):
        year = rng.randint(1900, 2020)
        digits = f"{year}{rng.randint(1, 12):02d}{rng.randint(1, 31):02d}{rng.randint(0, 9999):04d}"
        value = rng.choice([digits, digits[:8] + "-" + digits[8:], digits[2:], digits[2:8] + "-" + digits[8:]])
        try:
            personnummer(value)
            ours = True
        except ValueError:
            ours = False
        assert ours == stdnum_personnummer.is_valid(value), value


def test_looks_like_personnummer() -> None:
    assert looks_like_personnummer("880320-0016")
    assert looks_like_personnummer("19880320-0016")
    assert not looks_like_personnummer("556036-0793")  # legal entity: month position 60
    assert not looks_like_personnummer("16556036-0793")
    assert not looks_like_personnummer("880320-0018")  # bad checksum
    assert not looks_like_personnummer("not a number")


def test_every_personnummer_also_passes_the_org_number_check() -> None:
    # Why org numbers are told apart by the month position, not by the checksum.
    assert swedish_org_number("880320-0016") == "880320-0016"


def test_mask_personnummer() -> None:
    assert mask_personnummer("8803200016") == "19880320-****"
    assert mask_personnummer("19880320-0016") == "19880320-****"
    assert mask_personnummer("880320-0018") == "880320-****"  # invalid: still masked, never raises


# --- Organisation numbers of any country --------------------------------------------------------------------


def test_org_number_sweden_is_validated() -> None:
    assert org_number("5560360793", "SE") == "556036-0793"
    with pytest.raises(ValueError, match="checksum"):
        org_number("556036-0794", "SE")


def test_org_number_sole_trader_personnummer_becomes_org_number_form() -> None:
    assert org_number("19880320-0016", "SE") == "880320-0016"


def test_org_number_without_country_validates_swedish_looking_numbers() -> None:
    assert org_number("556036-0793", None) == "556036-0793"
    with pytest.raises(ValueError, match="checksum"):
        org_number("556036-0794", None)
    assert org_number("HRB 12345", None) == "HRB12345"


def test_org_number_foreign_is_compacted_without_checks() -> None:
    assert org_number("HRB 1234 b", "DE") == "HRB1234B"
    assert org_number("0123 456 789", "NO") == "0123456789"


def test_org_number_empty() -> None:
    with pytest.raises(ValueError, match="empty"):
        org_number("   ", "SE")


def test_has_swedish_org_shape() -> None:
    assert has_swedish_org_shape("556036-0794")
    assert has_swedish_org_shape("19880320-0016")
    assert not has_swedish_org_shape("HRB 12345")


def test_has_personnummer_shape() -> None:
    assert has_personnummer_shape("19880320-0018")
    assert has_personnummer_shape("880320-0018")
    assert not has_personnummer_shape("556036-0794")
    assert not has_personnummer_shape("16556036-0794")
    assert not has_personnummer_shape("HRB 12345")


# --- VAT numbers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "country", "expected"),
    [
        ("SE556036079301", None, "SE556036079301"),
        ("se 5560360793 01", None, "SE556036079301"),
        ("556036079301", "SE", "SE556036079301"),
        ("556036079301", None, "SE556036079301"),  # no prefix, no country: Swedish if it is a Swedish number
        ("DE136695976", None, "DE136695976"),
        ("136695976", "DE", "DE136695976"),
        ("FI20774740", None, "FI20774740"),
        ("2077474-0", "FI", "FI20774740"),
        ("DK 13 58 56 28", None, "DK13585628"),
        ("13585628", "DK", "DK13585628"),
        ("EL094259216", None, "EL094259216"),
        ("el 094 259 216", "GR", "EL094259216"),
        ("GR094259216", None, "EL094259216"),
        ("094259216", "GR", "EL094259216"),
        ("XI980780684", "GB", "XI980780684"),
        ("XI980780684", None, "XI980780684"),
        ("GB980780684", None, "GB980780684"),
        ("980780684", "GB", "GB980780684"),
        ("U57194903", "AT", "ATU57194903"),
        ("FR61954506077", None, "FR61954506077"),
        ("NO 974 760 673 MVA", None, "NO974760673MVA"),
        ("974760673", "NO", "NO974760673MVA"),  # Norwegians often leave out MVA
        ("CHE-116.281.710 MWST", None, "CHE116281710MWST"),
        ("CHE-116.281.710", "CH", "CHE116281710"),
        ("DE136695976", "SE", "DE136695976"),  # a foreign registration keeps its prefix
    ],
)
def test_vat_number(value: str, country: str | None, expected: str) -> None:
    assert vat_number(value, country) == expected


@pytest.mark.parametrize(
    ("value", "country", "message"),
    [
        ("SE556036079401", None, "'SE556036079401' is not a valid SE VAT number (checksum)"),
        ("DE136695977", None, "'DE136695977' is not a valid DE VAT number (checksum)"),
        ("SE5560360793", None, "'SE5560360793' is not a valid SE VAT number (format)"),  # no "01"
        ("EL09425921", None, "'EL09425921' is not a valid EL VAT number (checksum)"),  # zero-padded to 9
        ("DKABCDEFGH", None, "'DKABCDEFGH' is not a valid DK VAT number (format)"),
        ("12345", "FI", "'12345' is not a valid FI VAT number (wrong length)"),
        ("GB123", None, "'GB123' is not a valid GB VAT number (wrong length)"),
    ],
)
def test_vat_number_malformed(value: str, country: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        vat_number(value, country)


def test_vat_number_without_prefix_or_country() -> None:
    with pytest.raises(ValueError, match="no country prefix"):
        vat_number("136695976", None)


def test_vat_number_empty() -> None:
    with pytest.raises(ValueError, match="empty"):
        vat_number(" - ", "SE")


def test_vat_number_of_countries_without_a_checked_format_is_kept_compacted() -> None:
    assert vat_number("12-3456789", "US") == "123456789"
    assert vat_number("T1234567890123", "JP") == "T1234567890123"


@pytest.mark.parametrize(("prefix", "length"), [("SE", 12), ("DK", 8), ("FI", 8), ("DE", 9), ("EL", 9)])
def test_vat_number_accepts_what_stdnum_accepts(prefix: str, length: int) -> None:
    rng = random.Random(prefix)
    for _ in range(3000):
        n = length + rng.choice([0, 0, 0, -1, 1])
        digits = "".join(rng.choice("0123456789") for _ in range(n))
        if prefix == "SE" and rng.random() < 0.8:
            digits = digits[:-2] + "01"
        value = prefix + digits
        try:
            vat_number(value)
            ours = True
        except ValueError:
            ours = False
        assert ours == stdnum_eu_vat.is_valid(value), value


@pytest.mark.parametrize("prefix", ["NL", "AT", "IT", "PL", "EL", "BE", "FR", "GB", "CH"])
def test_vat_number_fast_checks_agree_with_stdnum(prefix: str) -> None:
    """Valid numbers of the state, half of them with one character changed: accepted exactly when stdnum accepts
    them, and stored as stdnum validates them."""
    module = get_cc_module("gr" if prefix == "EL" else prefix.lower(), "vat")
    assert module is not None
    rng = random.Random(prefix)
    for _ in range(2000):
        value = example_vat_number.__wrapped__(prefix, rng.randrange(100_000))
        if rng.random() < 0.5:
            at = rng.randrange(len(prefix), len(value))
            value = value[:at] + rng.choice("0123456789B") + value[at + 1 :]
        try:
            ours: str | None = vat_number(value)
        except ValueError:
            ours = None
        if module.is_valid(value):
            theirs = module.validate(value)
            assert ours == (theirs if theirs.startswith(prefix) else prefix + theirs), value
        else:
            assert ours is None, value


def test_vat_number_norway_agrees_with_stdnum() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        value = "NO" + "".join(rng.choice("0123456789") for _ in range(9)) + "MVA"
        try:
            vat_number(value)
            ours = True
        except ValueError:
            ours = False
        assert ours == stdnum_no_mva.is_valid(value), value


# --- Banking fields: warnings, not failures -----------------------------------------------------------------


def test_iban_valid_is_compacted() -> None:
    assert iban("SE45 5000 0000 0583 9825 7466") == ("SE4550000000058398257466", None)
    assert iban("se45 5000 0000 0583 9825 7466") == ("SE4550000000058398257466", None)


def test_iban_invalid_is_a_warning_and_kept_as_supplied() -> None:
    value, warning = iban("  SE45 5000 0000 0583 9825 7467 ")
    assert value == "SE45 5000 0000 0583 9825 7467"
    assert warning is not None
    assert (warning.field, warning.code) == ("iban", "INVALID_IBAN")
    assert "checksum" in warning.message


VALID_IBANS = [
    "SE4550000000058398257466",
    "GR1601101050000010547023795",
    "DE89370400440532013000",
    "GB29NWBK60161331926819",
    "FI2112345600000785",
    "DK5000400440116243",
    "NL91ABNA0417164300",
    "FR1420041010050500013M02606",
    "ES9121000418450200051332",
    "NO9386011117947",
    "CH9300762011623852957",
    "PL61109010140000071219812874",
    "AT611904300234573201",
]


def test_iban_agrees_with_stdnum() -> None:
    rng = random.Random(4)
    for valid in VALID_IBANS:
        assert iban(valid) == (valid, None)
        for _ in range(200):
            chars = list(valid)
            position = rng.randrange(len(chars))
            chars[position] = rng.choice("0123456789ABCXYZ")
            if rng.random() < 0.1:
                del chars[rng.randrange(len(chars))]
            mutated = "".join(chars)
            assert (iban(mutated)[1] is None) == stdnum_iban.is_valid(mutated), mutated


def test_bic() -> None:
    assert bic("ESSESESS") == ("ESSESESS", None)
    assert bic("essesess xxx") == ("ESSESESSXXX", None)
    value, warning = bic("ESSE")
    assert value == "ESSE"
    assert warning == FieldWarning("bic", "INVALID_BIC", "'ESSE' is not a valid BIC (wrong length); stored as supplied")


def test_bic_agrees_with_stdnum() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        value = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(rng.choice([8, 11, 9])))
        if rng.random() < 0.5:
            value = "ESSE" + rng.choice(["SE", "DE", "XK", "QQ", "ZZ", "EL"]) + value[6:]
        assert (bic(value)[1] is None) == stdnum_bic.is_valid(value), value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5402-9681", "5402-9681"),
        ("54029681", "5402-9681"),
        ("5050-1055", "5050-1055"),
        ("900-8004", "900-8004"),
    ],
)
def test_bankgiro_is_formatted(value: str, expected: str) -> None:
    assert bankgiro(value) == (expected, None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [("123-4567", "checksum"), ("12345", "7–8 digits"), ("5402-968A", "only digits")],
)
def test_bankgiro_invalid_is_a_warning(value: str, reason: str) -> None:
    stored, warning = bankgiro(value)
    assert stored == value
    assert warning is not None
    assert warning.code == "INVALID_BANKGIRO"
    assert reason in warning.message


def test_plusgiro() -> None:
    assert plusgiro("90 20 03-3") == ("902003-3", None)
    assert plusgiro("9020033") == ("902003-3", None)
    stored, warning = plusgiro("4 12 34-5")
    assert stored == "4 12 34-5"
    assert warning is not None
    assert warning.code == "INVALID_PLUSGIRO"
    assert plusgiro("1")[1] is not None


# --- Plain values -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "30",
        "30,0",
        "30.0",
        "30 dagar",
        "30 days",
        "30 dage",
        "30 Tage",
        "netto 30",
        "30 pv",
        "Net 30 days",
        "30 dagar netto",
        "30d",
        30,
        30.0,
    ],
)
def test_payment_terms_variants(value: str | int | float) -> None:
    assert payment_terms(value) == 30


def test_payment_terms_limits() -> None:
    assert payment_terms("0") == 0
    assert payment_terms("365") == 365
    with pytest.raises(ValueError, match="0–365"):
        payment_terms("366")
    with pytest.raises(ValueError, match="0–365"):
        payment_terms(-1)


def test_payment_terms_digits_read_as_the_general_pattern_reads_them() -> None:
    # Plain digit strings take a shortcut; with a space after them they take the general pattern.
    for text in [*map(str, range(1000)), *(f"{n:03d}" for n in range(100)), "0000", "٣٠", "³"]:
        try:
            expected: int | str = payment_terms(text + " ")
        except ValueError as exc:
            expected = str(exc).replace(repr(text + " "), repr(text))
        try:
            got: int | str = payment_terms(text)
        except ValueError as exc:
            got = str(exc)
        assert got == expected, text


@pytest.mark.parametrize("value", ["thirty", "30 months", "30.5", "1 000", True, 30.5, ""])
def test_payment_terms_rejects_other_values(value: str | int | float) -> None:
    with pytest.raises(ValueError, match="days"):
        payment_terms(value)


def test_email_single_address_lower_cases_the_domain_only() -> None:
    assert email("Anna.Svensson@Example.SE") == "Anna.Svensson@example.se"


@pytest.mark.parametrize(
    "value",
    ["a@x.se; b@y.se", "a@x.se,b@y.se", "a@x.se b@y.se", " a@x.se ;; b@y.se ", "a@X.SE, b@y.se, a@x.se"],
)
def test_email_lists(value: str) -> None:
    assert email(value) == "a@x.se, b@y.se"


def test_email_accepts_mailto_brackets_and_international_domains() -> None:
    assert email("mailto:info@acme.se") == "info@acme.se"
    assert email("<info@acme.se>") == "info@acme.se"
    assert email("anna@företag.SE") == "anna@företag.se"


@pytest.mark.parametrize(
    ("value", "bad"),
    [
        ("anna", "anna"),
        ("anna@acme", "anna@acme"),
        ("a@x.se; anna@", "anna@"),
        ("anna@@acme.se", "anna@@acme.se"),
        ("a..b@acme.se", "a..b@acme.se"),
        ("anna@-acme.se", "anna@-acme.se"),
    ],
)
def test_email_rejects_non_addresses_naming_the_bad_one(value: str, bad: str) -> None:
    with pytest.raises(ValueError, match=exactly(f"{bad!r} is not an e-mail address")):
        email(value)


@pytest.mark.parametrize("value", ["true", "yes", "ja", "1", "x", "X", "kyllä", "Ja", 1, True])
def test_yes(value: str | int | bool) -> None:
    assert yes_no(value) is True


@pytest.mark.parametrize("value", ["false", "no", "nej", "0", "ei", "NEJ", 0, False])
def test_no(value: str | int | bool) -> None:
    assert yes_no(value) is False


@pytest.mark.parametrize("value", ["maybe", 2, "ok"])
def test_yes_no_rejects(value: str | int) -> None:
    with pytest.raises(ValueError, match="not a yes/no value"):
        yes_no(value)


# --- Type inference -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "org", "is_person", "expected"),
    [
        (None, None, True, "individual"),
        ("DE", None, True, "individual"),  # a private person anywhere
        (None, "880320-0016", None, "individual"),  # a personnummer
        ("SE", "19880320-0016", None, "individual"),
        (None, "880320-0016", False, "swedish_business"),  # source says company: a sole trader's firm
        ("DE", "880320-0016", None, "eu_business"),  # personnummer only means something in Sweden
        ("SE", None, None, "swedish_business"),
        ("Sverige", "556036-0793", None, "swedish_business"),
        (None, "556036-0793", None, "swedish_business"),
        ("FI", None, False, "eu_business"),
        ("GR", None, None, "eu_business"),
        ("NO", None, None, "non_eu_business"),
        ("GB", None, None, "non_eu_business"),
        ("US", "12-3456789", None, "non_eu_business"),
    ],
)
def test_infer_customer_type(country: str | None, org: str | None, is_person: bool | None, expected: str) -> None:
    assert infer_customer_type(country, org, is_person) == expected


@pytest.mark.parametrize(("country", "org"), [(None, None), (None, "HRB 12345"), (None, "556036-0794")])
def test_infer_customer_type_needs_something_to_go_on(country: str | None, org: str | None) -> None:
    with pytest.raises(ValueError, match=exactly("cannot tell the customer type: give customer_type or country")):
        infer_customer_type(country, org, None)


@pytest.mark.parametrize(
    ("country", "org", "is_person", "expected"),
    [
        ("SE", "880320-0016", True, "swedish_business"),  # suppliers have no individual type
        (None, "880320-0016", True, "swedish_business"),
        ("DE", None, True, "eu_business"),
        (None, "556036-0793", None, "swedish_business"),
        ("DK", None, None, "eu_business"),
        ("CH", None, None, "non_eu_business"),
    ],
)
def test_infer_supplier_type(country: str | None, org: str | None, is_person: bool | None, expected: str) -> None:
    assert infer_supplier_type(country, org, is_person) == expected


def test_infer_supplier_type_needs_something_to_go_on() -> None:
    with pytest.raises(ValueError, match="cannot tell the supplier type: give supplier_type or country"):
        infer_supplier_type(None, None, None)
