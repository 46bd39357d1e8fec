from types import MappingProxyType
from typing import Any

import pytest
from pydantic import ValidationError

from registry.errors import FieldWarning
from registry.fields import CUSTOMER_FIELDS, HINT_FIELDS, SUPPLIER_FIELDS
from registry.items import Rejected, validate
from registry.models import CustomerCreate, SupplierCreate, field_errors


def customer_errors(row: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        CustomerCreate.model_validate(row)
    return field_errors(info.value)


def supplier_errors(row: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        SupplierCreate.model_validate(row)
    return field_errors(info.value)


def codes(model: CustomerCreate | SupplierCreate) -> list[str]:
    return [w.code for w in model.warnings]


# --- Shape --------------------------------------------------------------------------------------------------


def test_fields_are_the_canonical_fields_plus_hints_and_warnings() -> None:
    assert set(CustomerCreate.model_fields) == {*CUSTOMER_FIELDS, *HINT_FIELDS, "warnings"}
    assert set(SupplierCreate.model_fields) == {*SUPPLIER_FIELDS, *HINT_FIELDS, "warnings"}


def test_db_values_and_dump_hold_exactly_the_payload_fields() -> None:
    customer = CustomerCreate.model_validate({"name": "Acme AB", "country": "SE", "is_person": "nej"})
    assert list(customer.db_values()) == list(CUSTOMER_FIELDS)
    assert set(customer.model_dump()) == set(CUSTOMER_FIELDS)
    supplier = SupplierCreate.model_validate({"name": "Office Depot AB", "country": "SE", "bankgiro": "123-4567"})
    assert list(supplier.db_values()) == list(SUPPLIER_FIELDS)
    assert set(supplier.model_dump()) == set(SUPPLIER_FIELDS)
    assert supplier.warnings  # kept on the model, not in the payload


# --- Swedish business customers -----------------------------------------------------------------------------


def test_swedish_business_row_from_csv() -> None:
    row = {
        "customer_number": " 1001 ",
        "customer_type": "",
        "name": "  Acme AB ",
        "email": "Finance@ACME.se",
        "phone": "08-123 456 78",
        "org_number": "5560360793",
        "vat_number": "556036079301",
        "country": "Sverige",
        "address_line1": "Storgatan 1",
        "address_line2": "   ",
        "postal_code": "114 18",
        "city": "Stockholm",
        "default_payment_terms": "30 dagar",
        "notes": "",
    }
    customer = CustomerCreate.model_validate(row)
    assert customer.db_values() == {
        "customer_number": "1001",
        "customer_type": "swedish_business",
        "name": "Acme AB",
        "email": "Finance@acme.se",
        "phone": "08-123 456 78",
        "org_number": "556036-0793",
        "vat_number": "SE556036079301",
        "country": "SE",
        "address_line1": "Storgatan 1",
        "address_line2": None,
        "postal_code": "114 18",
        "city": "Stockholm",
        "default_payment_terms": 30,
        "notes": None,
    }
    assert customer.warnings == []


@pytest.mark.parametrize("org", ["556036-0793", "5560360793", "556036 0793"])
def test_org_number_with_and_without_dash(org: str) -> None:
    customer = CustomerCreate.model_validate({"name": "Acme AB", "org_number": org})
    assert customer.org_number == "556036-0793"
    assert customer.customer_type == "swedish_business"  # no country, but a Swedish org number


def test_bad_org_number_checksum_names_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        CustomerCreate.model_validate({"name": "Acme AB", "country": "SE", "org_number": "556677-8898"})
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [("org_number",)]
    assert errors[0]["msg"] == "'556677-8898' is not a valid Swedish organisation number (checksum)"


def test_bad_org_number_without_country_blames_the_number_not_the_type() -> None:
    assert customer_errors({"name": "Acme AB", "org_number": "556677-8898"}) == {
        "org_number": "'556677-8898' is not a valid Swedish organisation number (checksum)"
    }


@pytest.mark.parametrize("org", ["19880320-0018", "880320-0018"])
def test_bad_personnummer_without_country_is_reported_as_a_personnummer(org: str) -> None:
    assert customer_errors({"name": "Anna Svensson", "org_number": org}) == {
        "org_number": f"'{org[:-4]}****' is not a valid personnummer (checksum)"
    }


def test_personnummer_given_for_a_business_is_a_warning() -> None:
    customer = CustomerCreate.model_validate(
        {"name": "Anna Svenssons Måleri", "customer_type": "swedish_business", "org_number": "19880320-0016"}
    )
    assert customer.org_number == "880320-0016"
    assert codes(customer) == ["PERSONNUMMER_AS_ORG_NUMBER"]
    assert "0016" not in customer.warnings[0].message


def test_vat_number_that_does_not_match_the_org_number_is_a_warning() -> None:
    customer = CustomerCreate.model_validate(
        {"name": "Acme AB", "country": "SE", "org_number": "556036-0793", "vat_number": "SE556677889901"}
    )
    assert codes(customer) == ["VAT_ORG_MISMATCH"]


# --- Individuals --------------------------------------------------------------------------------------------


def test_individual_with_personnummer() -> None:
    customer = CustomerCreate.model_validate(
        {
            "first_name": "Anna",
            "last_name": "Svensson",
            "customer_type": "individual",
            "org_number": "8803200016",
        }
    )
    assert customer.name == "Anna Svensson"
    assert customer.org_number == "19880320-0016"
    assert customer.customer_type == "individual"
    assert "first_name" not in customer.model_dump()


def test_individual_inferred_from_a_personnummer() -> None:
    customer = CustomerCreate.model_validate({"name": "Anna Svensson", "org_number": "880320-0016"})
    assert customer.customer_type == "individual"
    assert customer.org_number == "19880320-0016"


@pytest.mark.parametrize("flag", ["ja", "yes", "true", "1", "x", "kyllä", True, 1])
def test_individual_from_the_is_person_flag(flag: object) -> None:
    customer = CustomerCreate.model_validate({"name": "Anna Svensson", "country": "SE", "is_person": flag})
    assert customer.customer_type == "individual"
    assert customer.org_number is None  # a personnummer is optional


def test_company_flag_overrides_a_personnummer_looking_org_number() -> None:
    customer = CustomerCreate.model_validate({"name": "Anna Svenssons Måleri", "org_number": "880320-0016",
                                              "is_person": "nej"})  # fmt: skip
    assert customer.customer_type == "swedish_business"
    assert customer.org_number == "880320-0016"


@pytest.mark.parametrize(
    ("org", "message"),
    [
        ("881320-0016", "'881320-****' is not a valid personnummer (no such birth date)"),
        ("880320-0018", "'880320-****' is not a valid personnummer (checksum)"),
        ("556036-0793", "'556036-****' is not a valid personnummer (no such birth date)"),
        (
            "701063-2391",
            "'701063-****' is a samordningsnummer (co-ordination number); only personnummer are supported",
        ),
    ],
)
def test_individual_with_invalid_personnummer(org: str, message: str) -> None:
    assert customer_errors({"name": "Anna", "customer_type": "individual", "org_number": org}) == {
        "org_number": message
    }


def test_foreign_individual_keeps_their_id_unchecked() -> None:
    customer = CustomerCreate.model_validate(
        {"name": "Hans Müller", "customer_type": "private", "country": "Deutschland", "org_number": "12 345"}
    )
    assert (customer.customer_type, customer.org_number) == ("individual", "12345")


# --- EU and non-EU customers --------------------------------------------------------------------------------


def test_eu_business_vat_number_gets_the_country_prefix() -> None:
    customer = CustomerCreate.model_validate({"name": "Foo Oy", "country": "Suomi", "vat_number": "2077474-0"})
    assert (customer.customer_type, customer.country, customer.vat_number) == (
        "eu_business",
        "FI",
        "FI20774740",
    )
    assert customer.warnings == []


@pytest.mark.parametrize(("vat", "expected"), [("EL094259216", "EL094259216"), ("GR094259216", "EL094259216"),
                                                ("094259216", "EL094259216")])  # fmt: skip
def test_greek_vat_numbers_use_el(vat: str, expected: str) -> None:
    customer = CustomerCreate.model_validate({"name": "Foo AE", "country": "Grekland", "vat_number": vat})
    assert (customer.country, customer.vat_number) == ("GR", expected)
    assert customer.warnings == []


def test_northern_ireland_vat_number_for_a_uk_customer() -> None:
    customer = CustomerCreate.model_validate(
        {"name": "Belfast Ltd", "country": "Nordirland", "vat_number": "XI980780684"}
    )
    assert (customer.customer_type, customer.country, customer.vat_number) == (
        "non_eu_business",
        "GB",
        "XI980780684",
    )
    assert customer.warnings == []


def test_eu_business_without_vat_number_is_a_warning() -> None:
    customer = CustomerCreate.model_validate({"name": "Cloud GmbH", "country": "DE"})
    assert customer.customer_type == "eu_business"
    assert codes(customer) == ["VAT_NUMBER_RECOMMENDED"]


def test_malformed_vat_number_names_the_field() -> None:
    assert customer_errors({"name": "Cloud GmbH", "country": "DE", "vat_number": "DE136695977"}) == {
        "vat_number": "'DE136695977' is not a valid DE VAT number (checksum)"
    }


def test_vat_number_from_another_country_is_a_warning() -> None:
    customer = CustomerCreate.model_validate({"name": "Cloud GmbH", "country": "AT", "vat_number": "DE136695976"})
    assert customer.vat_number == "DE136695976"
    assert codes(customer) == ["VAT_COUNTRY_MISMATCH"]


def test_non_eu_business() -> None:
    customer = CustomerCreate.model_validate({"name": "Acme Inc", "country": "USA", "org_number": "12-3456789"})
    assert (customer.customer_type, customer.country, customer.org_number) == (
        "non_eu_business",
        "US",
        "12-3456789",
    )


# --- Customer type ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "country", "expected"),
    [
        ("business", "SE", "swedish_business"),
        ("Company", "DE", "eu_business"),
        ("företag", "US", "non_eu_business"),
        ("privatperson", "SE", "individual"),
        ("Enskild firma", "SE", "individual"),
        ("sole trader", "GB", "individual"),
        ("Swedish business", "SE", "swedish_business"),
        ("EU_BUSINESS", "FI", "eu_business"),
        ("non-EU business", "NO", "non_eu_business"),
    ],
)
def test_customer_type_aliases(given: str, country: str, expected: str) -> None:
    customer = CustomerCreate.model_validate(
        {"name": "X", "customer_type": given, "country": country, "vat_number": None}
    )
    assert customer.customer_type == expected


def test_business_alias_with_a_personnummer_is_a_sole_traders_firm() -> None:
    customer = CustomerCreate.model_validate({"name": "X", "customer_type": "business", "org_number": "880320-0016"})
    assert customer.customer_type == "swedish_business"


def test_unknown_customer_type() -> None:
    assert customer_errors({"name": "X", "customer_type": "reseller"}) == {
        "customer_type": "unknown customer type 'reseller' "
        "(use swedish_business, eu_business, non_eu_business or individual)"
    }


def test_type_cannot_be_inferred() -> None:
    assert customer_errors({"name": "X"}) == {
        "customer_type": "cannot tell the customer type: give customer_type or country"
    }


def test_type_that_contradicts_the_country_is_a_warning() -> None:
    customer = CustomerCreate.model_validate(
        {"name": "X", "customer_type": "eu_business", "country": "SE", "vat_number": "SE556036079301"}
    )
    assert customer.customer_type == "eu_business"
    assert codes(customer) == ["TYPE_COUNTRY_MISMATCH"]


# --- Input cleaning and limits ------------------------------------------------------------------------------


def test_blank_and_whitespace_only_become_none() -> None:
    customer = CustomerCreate.model_validate(
        {"name": "Acme AB", "country": "SE", "email": "", "phone": "   ", "notes": "\t", "city": None,
         "postal_code": float("nan")}  # pandas' empty cell
    )  # fmt: skip
    assert (customer.email, customer.phone, customer.notes, customer.city, customer.postal_code) == (None,) * 5


def test_any_mapping_and_unknown_columns() -> None:
    row = MappingProxyType({"name": " Acme AB ", "country": "SE", "warnings": "x", "legacy_id": "17"})
    customer = CustomerCreate.model_validate(row)
    assert (customer.name, customer.warnings) == ("Acme AB", [])


def test_blank_name_is_required() -> None:
    assert customer_errors({"name": "  ", "country": "SE"}) == {"name": "Field required"}


def test_json_numbers_and_bools() -> None:
    customer = CustomerCreate.model_validate(
        {"customer_number": 1001, "name": "Anna", "postal_code": 11418, "default_payment_terms": 14,
         "is_person": True, "country": "SE"}
    )  # fmt: skip
    assert (customer.customer_number, customer.postal_code, customer.default_payment_terms) == (
        "1001",
        "11418",
        14,
    )
    assert customer.customer_type == "individual"


@pytest.mark.parametrize(
    ("field", "length"),
    [
        ("name", 255),
        ("phone", 50),
        ("address_line1", 255),
        ("address_line2", 255),
        ("postal_code", 20),
        ("city", 100),
        ("notes", 4000),
        ("customer_number", 64),
    ],
)
def test_too_long_values(field: str, length: int) -> None:
    row = {"name": "Acme AB", "country": "SE", field: "x" * length}
    assert getattr(CustomerCreate.model_validate(row), field) == "x" * length
    row[field] = "x" * (length + 1)
    assert customer_errors(row) == {field: f"String should have at most {length} characters"}


def test_too_long_email() -> None:
    addresses = " ".join(f"person{i}@example.com" for i in range(20))
    assert customer_errors({"name": "X", "country": "SE", "email": addresses}) == {
        "email": "e-mail addresses are longer than 255 characters"
    }


def test_email_list_is_normalised() -> None:
    customer = CustomerCreate.model_validate({"name": "X", "country": "SE", "email": "a@ACME.se; b@acme.se c@acme.se"})
    assert customer.email == "a@acme.se, b@acme.se, c@acme.se"


@pytest.mark.parametrize("terms", ["30", "30,0", "30 days", "netto 30", "30 Tage", 30])
def test_payment_terms(terms: object) -> None:
    customer = CustomerCreate.model_validate({"name": "X", "country": "SE", "default_payment_terms": terms})
    assert customer.default_payment_terms == 30


def test_field_errors_collects_every_failing_field() -> None:
    errors = customer_errors(
        {
            "email": "not-an-address",
            "country": "Xyzland",
            "default_payment_terms": "400",
            "is_person": "maybe",
        }
    )
    assert errors == {
        "name": "Field required",
        "email": "'not-an-address' is not an e-mail address",
        "country": "unknown country 'Xyzland'",
        "default_payment_terms": "payment terms must be 0–365 days, got '400'",
        "is_person": "'maybe' is not a yes/no value",
    }


def test_field_errors_strips_pydantics_value_error_prefix() -> None:
    exc = ValidationError.from_exception_data(
        "Row",
        [{"type": "value_error", "loc": ("city",), "input": "x", "ctx": {"error": ValueError("bad city")}}],
    )
    assert exc.errors()[0]["msg"] == "Value error, bad city"
    assert field_errors(exc) == {"city": "bad city"}


def test_a_brace_in_the_value_is_not_a_template() -> None:
    assert customer_errors({"name": "X", "country": "SE", "email": "{a}"}) == {
        "email": "'{a}' is not an e-mail address"
    }


# --- Suppliers ----------------------------------------------------------------------------------------------


def test_supplier_row() -> None:
    supplier = SupplierCreate.model_validate(
        {
            "supplier_number": "2001",
            "name": "Office Depot AB",
            "supplier_type": "swedish_business",
            "email": "invoices@officedepot.se",
            "org_number": "556677-8899",
            "bankgiro": "54029681",
            "iban": "se45 5000 0000 0583 9825 7466",
            "bic": "essesess",
            "default_expense_account": 5410,
            "default_payment_terms": "30",
            "default_currency": "sek",
        }
    )
    values = supplier.db_values()
    assert values["bankgiro"] == "5402-9681"
    assert values["iban"] == "SE4550000000058398257466"
    assert values["bic"] == "ESSESESS"
    assert values["default_expense_account"] == "5410"
    assert values["default_currency"] == "SEK"
    assert values["org_number"] == "556677-8899"
    assert supplier.warnings == []


def test_invalid_banking_fields_are_warnings_not_failures() -> None:
    supplier = SupplierCreate.model_validate(
        {
            "name": "Office Depot AB",
            "country": "SE",
            "bankgiro": "123-4567",
            "plusgiro": "4 12 34-5",
            "iban": "SE45 5000 0000 0583 9825 7467",
            "bic": "ESSE",
        }
    )
    assert (supplier.bankgiro, supplier.plusgiro, supplier.iban, supplier.bic) == (
        "123-4567",
        "4 12 34-5",
        "SE45 5000 0000 0583 9825 7467",
        "ESSE",
    )
    assert [(w.field, w.code) for w in supplier.warnings] == [
        ("bankgiro", "INVALID_BANKGIRO"),
        ("plusgiro", "INVALID_PLUSGIRO"),
        ("iban", "INVALID_IBAN"),
        ("bic", "INVALID_BIC"),
    ]
    assert all(isinstance(w, FieldWarning) for w in supplier.warnings)


def test_person_supplier_is_a_business_of_their_country() -> None:
    supplier = SupplierCreate.model_validate({"name": "Anna Svensson", "is_person": "ja", "org_number": "880320-0016"})
    assert (supplier.supplier_type, supplier.org_number) == ("swedish_business", "880320-0016")
    assert codes(supplier) == ["PERSONNUMMER_AS_ORG_NUMBER"]


def test_individual_supplier_type_becomes_a_business_type_with_a_warning() -> None:
    supplier = SupplierCreate.model_validate({"name": "Anna Svensson", "supplier_type": "individual", "country": "DK"})
    assert supplier.supplier_type == "eu_business"
    assert codes(supplier) == ["NO_INDIVIDUAL_SUPPLIER_TYPE"]


def test_supplier_field_errors() -> None:
    assert supplier_errors(
        {
            "name": "X",
            "country": "SE",
            "org_number": "556677-8898",
            "default_expense_account": "54",
            "default_currency": "kronor",
            "iban": "x" * 65,
        }
    ) == {
        "default_expense_account": "'54' is not an account number (4–10 digits, e.g. BAS 5410)",
        "default_currency": "'kronor' is not an ISO 4217 currency code (3 letters, e.g. SEK)",
        "iban": "String should have at most 64 characters",
    }


def test_supplier_cross_field_error() -> None:
    assert supplier_errors({"name": "X", "country": "SE", "org_number": "556677-8898"}) == {
        "org_number": "'556677-8898' is not a valid Swedish organisation number (checksum)"
    }
    assert supplier_errors({"name": "X"}) == {
        "supplier_type": "cannot tell the supplier type: give supplier_type or country"
    }


def test_a_row_failing_on_its_own_fields_is_judged_on_the_rules_between_fields_too() -> None:
    """One round of corrections: a bad e-mail does not hide a bad org number checksum (a rule that needs the
    type and the country, and so ran only on rows whose every field was valid)."""
    payload = {"org_number": "556036-0794", "email": "bad", "default_payment_terms": "soon", "country": "Sverige"}
    result = validate("customers", payload)
    assert isinstance(result, Rejected)
    assert list(result.error["fields"]) == ["name", "email", "default_payment_terms", "org_number"]
    assert "checksum" in result.error["fields"]["org_number"]


def test_the_rules_between_fields_are_not_judged_without_their_inputs() -> None:
    """An unknown country leaves the org number unjudged: its rules depend on the country."""
    result = validate("customers", {"name": "X AB", "org_number": "556036-0794", "country": "Atlantis"})
    assert isinstance(result, Rejected)
    assert list(result.error["fields"]) == ["country"]
