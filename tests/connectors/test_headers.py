from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.csv_source import escape_cell
from connectors.headers import (
    ALIASES,
    JOINED_FIELDS,
    PSEUDO_FIELDS,
    REPORT_COLUMNS,
    HeaderMapping,
    build_mapping,
    load_mapping_file,
    normalize_header,
    row_payload,
    valid_targets,
)
from registry.fields import HINT_FIELDS, Kind, payload_fields
from registry.models import CleanPayload


def mapped(headers: list[str], kind: Kind = "customers") -> dict[str, str]:
    """header -> field for the mapped headers."""
    mapping = build_mapping(headers, kind)
    return {headers[i]: f for i, f in mapping.fields.items()}


# -- the alias table --------------------------------------------------------------------------------


def test_alias_targets_are_fields() -> None:
    every = set(valid_targets("customers")) | set(valid_targets("suppliers"))
    assert set(ALIASES) <= every
    assert set(PSEUDO_FIELDS.values()) <= set(HINT_FIELDS)
    assert set(JOINED_FIELDS) <= every


@pytest.mark.parametrize("kind", ["customers", "suppliers"])
def test_every_field_maps_by_its_own_name(kind: Kind) -> None:
    names = list(valid_targets(kind))
    assert mapped(names, kind) == {n: n for n in names}


@pytest.mark.parametrize(
    "header", ["Org.nr", "Org-nummer", "ORGANISATIONSNUMMER", "Organisationsnummer", "orgnr", " org nr. "]
)
def test_matching_ignores_case_accents_spaces_punctuation(header: str) -> None:
    assert mapped([header]) == {header: "org_number"}


def test_normalize_header() -> None:
    assert normalize_header("Org.-Nr.") == "orgnr"
    assert normalize_header("Straße") == normalize_header("Strasse") == "strasse"
    assert normalize_header("Leverandørnummer") == "leverandornummer"
    assert normalize_header("Sähköposti") == "sahkoposti"
    assert normalize_header("E-post") == normalize_header("Epost")
    assert normalize_header("---") == ""


def _mangle(draw: st.DrawFn, alias: str) -> str:
    out = []
    for ch in alias:
        out.append(ch.upper() if draw(st.booleans()) else ch.lower())
        out.append(draw(st.sampled_from(["", "", "", " ", ".", "-", "_", "/"])))
    return "".join(out)


@st.composite
def mangled_alias(draw: st.DrawFn) -> tuple[Kind, str, str]:
    kind: Kind = draw(st.sampled_from(["customers", "suppliers"]))
    allowed = set(valid_targets(kind))
    target = draw(st.sampled_from(sorted(t for t in ALIASES if t in allowed)))
    alias = draw(st.sampled_from((target, *ALIASES[target])))
    return kind, target, _mangle(draw, alias)


@given(mangled_alias())
def test_mangled_aliases_still_map(case: tuple[Kind, str, str]) -> None:
    kind, target, header = case
    mapping = build_mapping([header], kind)
    assert mapping.fields == {0: target}
    assert mapping.unknown == ()


# -- languages --------------------------------------------------------------------------------------

CUSTOMER_LANGUAGES = {
    "sv": [
        "Kundnummer", "Företagsnamn", "Org.nr", "Momsregistreringsnummer", "Gatuadress", "c/o",
        "Postnummer", "Ort", "Land", "Telefon", "E-post", "Betalningsvillkor", "Anteckningar", "Kundtyp",
    ],
    "da": [
        "Kundenummer", "Navn", "CVR-nr", "SE-nr", "Adresse", "Adresse 2",
        "Postnr", "By", "Land", "Tlf", "E-mail", "Betalingsbetingelser", "Noter", "Kundetype",
    ],
    "no": [
        "Kundenummer", "Navn", "Organisasjonsnummer", "MVA-nummer", "Gateadresse", "Adresselinje 2",
        "Postnummer", "Poststed", "Land", "Telefon", "E-post", "Betalingsfrist", "Merknad", "Type",
    ],
    "de": [
        "Kundennummer", "Firmenname", "Handelsregisternummer", "USt-IdNr", "Straße", "Adresszusatz",
        "PLZ", "Stadt", "Land", "Telefon", "E-Mail", "Zahlungsziel", "Bemerkungen", "Kundentyp",
    ],
    "fi": [
        "Asiakasnumero", "Nimi", "Y-tunnus", "ALV-numero", "Katuosoite", "Osoite 2",
        "Postinumero", "Postitoimipaikka", "Maa", "Puhelin", "Sähköposti", "Maksuehto", "Huomautukset",
        "Asiakastyyppi",
    ],
    "en": [
        "Customer no", "Company", "Organisation number", "VAT number", "Address", "Address 2",
        "Zip", "City", "Country", "Phone", "Email", "Payment terms", "Notes", "Customer type",
    ],
}  # fmt: skip
CUSTOMER_FIELD_ORDER = [
    "customer_number", "name", "org_number", "vat_number", "address_line1", "address_line2",
    "postal_code", "city", "country", "phone", "email", "default_payment_terms", "notes", "customer_type",
]  # fmt: skip


@pytest.mark.parametrize("language", sorted(CUSTOMER_LANGUAGES))
def test_customer_headers_per_language(language: str) -> None:
    headers = CUSTOMER_LANGUAGES[language]
    mapping = build_mapping(headers, "customers")
    assert [mapping.fields[i] for i in range(len(headers))] == CUSTOMER_FIELD_ORDER
    assert mapping.unknown == ()
    assert mapping.missing_required() == ()


@pytest.mark.parametrize(
    ("headers", "fields"),
    [
        (["Förnamn", "Efternamn", "Personnummer"], ["first_name", "last_name", "org_number"]),
        (["Fornavn", "Efternavn"], ["first_name", "last_name"]),
        (["Fornavn", "Etternavn"], ["first_name", "last_name"]),
        (["Vorname", "Nachname"], ["first_name", "last_name"]),
        (["Etunimi", "Sukunimi"], ["first_name", "last_name"]),
        (["Namn", "Privatperson"], ["name", "is_person"]),
        (["Namn", "Epost", "Mail", "Tel"], ["name", "email", "email", "phone"]),
        (
            ["Namn", "Adress", "Utdelningsadress", "Postort"],
            ["name", "address_line1", "address_line1", "city"],
        ),
        (["Name", "Strasse", "Postleitzahl", "Ort"], ["name", "address_line1", "postal_code", "city"]),
        (["Nimi", "Osoite", "Kaupunki", "Maa"], ["name", "address_line1", "city", "country"]),
        (["Namn", "Momsnr", "VAT-nr", "UID", "ALV-numero"], ["name", *["vat_number"] * 4]),
    ],
)
def test_more_customer_headers(headers: list[str], fields: list[str]) -> None:
    mapping = build_mapping(headers, "customers")
    assert [mapping.fields.get(i) for i in range(len(headers))] == fields


def test_personnummer_sets_only_org_number() -> None:
    mapping = build_mapping(["Namn", "Personnummer"], "customers")
    assert row_payload(["Åsa Öberg", "19121212-1212"], mapping) == {
        "name": "Åsa Öberg",
        "org_number": "19121212-1212",
    }


SUPPLIER_LANGUAGES = {
    "sv": ["Leverantörsnummer", "Företagsnamn", "Bankgiro", "Plusgiro", "IBAN", "BIC", "Kostnadskonto",
           "Valuta", "Leverantörstyp"],
    "da": ["Leverandørnummer", "Firmanavn", "BG", "PG", "IBAN", "SWIFT", "Udgiftskonto", "Valuta", "Type"],
    "de": ["Lieferantennummer", "Firmenname", "Bankgiro", "Postgiro", "IBAN", "BIC/SWIFT", "Aufwandskonto",
           "Währung", "Typ"],
    "fi": ["Toimittajanumero", "Nimi", "BG", "PG", "IBAN", "BIC", "Kulutili", "Valuutta", "Type"],
    "en": ["Supplier number", "Name", "Bankgiro", "Plusgiro", "IBAN", "SWIFT", "Expense account", "Currency",
           "Supplier type"],
}  # fmt: skip
SUPPLIER_FIELD_ORDER = [
    "supplier_number", "name", "bankgiro", "plusgiro", "iban", "bic", "default_expense_account",
    "default_currency", "supplier_type",
]  # fmt: skip


@pytest.mark.parametrize("language", sorted(SUPPLIER_LANGUAGES))
def test_supplier_headers_per_language(language: str) -> None:
    headers = SUPPLIER_LANGUAGES[language]
    mapping = build_mapping(headers, "suppliers")
    assert [mapping.fields[i] for i in range(len(headers))] == SUPPLIER_FIELD_ORDER
    assert mapping.unknown == ()


def test_kind_decides_which_fields_exist() -> None:
    # "Kundnummer" in a supplier file is *our* customer number at the supplier: not the supplier number.
    assert build_mapping(["Namn", "Kundnummer"], "suppliers").unknown == ("Kundnummer",)
    assert build_mapping(["Namn", "Bankgiro", "Valuta"], "customers").unknown == ("Bankgiro", "Valuta")
    assert mapped(["Nummer"], "customers") == {"Nummer": "customer_number"}
    assert mapped(["Nummer"], "suppliers") == {"Nummer": "supplier_number"}


# -- source systems ---------------------------------------------------------------------------------


def test_economic_customers() -> None:
    headers = [
        "customerNumber", "name", "corporateIdentificationNumber", "vatNumber", "address", "zip", "city",
        "country", "email", "telephoneAndFaxNumber", "mobilePhone", "currency", "ean",
    ]  # fmt: skip
    mapping = build_mapping(headers, "customers")
    assert mapping.fields == {
        0: "customer_number", 1: "name", 2: "org_number", 3: "vat_number", 4: "address_line1",
        5: "postal_code", 6: "city", 7: "country", 8: "email", 9: "phone", 10: "phone",
    }  # fmt: skip
    assert mapping.unknown == ("currency", "ean")


def test_economic_suppliers() -> None:
    headers = [
        "supplierNumber", "name", "address", "zip", "city", "country", "email", "phone", "bankAccount",
        "corporateIdentificationNumber", "currency", "costAccount",
    ]  # fmt: skip
    mapping = build_mapping(headers, "suppliers")
    assert [mapping.fields.get(i) for i in range(len(headers))] == [
        "supplier_number", "name", "address_line1", "postal_code", "city", "country", "email", "phone",
        None, "org_number", "default_currency", "default_expense_account",
    ]  # fmt: skip
    assert mapping.unknown == ("bankAccount",)


def test_visma_eaccounting_customers() -> None:
    headers = [
        "CustomerNumber", "CorporateIdentityNumber", "VatNumber", "Name", "InvoiceAddress1",
        "InvoiceAddress2", "InvoicePostalCode", "InvoiceCity", "InvoiceCountryCode", "EmailAddress",
        "Telephone", "MobilePhone", "IsPrivatePerson", "Note", "Iban", "Id",
    ]  # fmt: skip
    mapping = build_mapping(headers, "customers")
    assert [mapping.fields.get(i) for i in range(len(headers))] == [
        "customer_number", "org_number", "vat_number", "name", "address_line1", "address_line2",
        "postal_code", "city", "country", "email", "phone", "phone", "is_person", "notes", None, None,
    ]  # fmt: skip
    assert mapping.unknown == ("Iban", "Id")  # customers have no IBAN
    assert build_mapping(["Name", "Iban"], "suppliers").fields == {0: "name", 1: "iban"}


def test_faktoora_customers() -> None:
    headers = [
        "isCompany", "name", "firstName", "lastName", "address", "postcode", "city", "country", "vatId",
        "taxId", "customerId", "email", "phoneNo", "peppolId",
    ]  # fmt: skip
    mapping = build_mapping(headers, "customers")
    assert [mapping.fields.get(i) for i in range(len(headers))] == [
        "is_company", "name", "first_name", "last_name", "address_line1", "postal_code", "city", "country",
        "vat_number", None, "customer_number", "email", "phone", None,
    ]  # fmt: skip
    assert mapping.unknown == ("taxId", "peppolId")
    company = ["true", "Acme GmbH", "", "", "Musterstraße 1", "10115", "Berlin", "DE", "DE123456789", "",
               "003", "billing@acme.example", "", ""]  # fmt: skip
    payload = row_payload(company, mapping)
    assert payload["is_person"] == "false"
    assert payload["customer_number"] == "003"
    person = ["false", "", "Max", "Mustermann", "Weg 2", "01067", "Dresden", "DE", "", "", "004", "", "", ""]
    payload = row_payload(person, mapping)
    assert payload["is_person"] == "true"
    assert ("name" in payload, payload["first_name"], payload["last_name"]) == (False, "Max", "Mustermann")


def test_lemonsoft_customers() -> None:
    headers = [
        "number", "name", "name2", "street", "street2", "postal_code", "city", "country", "vat", "email",
        "phone", "is_customer", "is_supplier", "is_nonactive",
    ]  # fmt: skip
    mapping = build_mapping(headers, "customers")
    assert [mapping.fields.get(i) for i in range(len(headers))] == [
        "customer_number", "name", "name", "address_line1", "address_line2", "postal_code", "city",
        "country", "vat_number", "email", "phone", None, None, None,
    ]  # fmt: skip
    assert mapping.unknown == ("is_customer", "is_supplier", "is_nonactive")
    row = ["0042", "Oy Pitkä Nimi", "Ab", "Katu 1", "", "00100", "Helsinki", "FI", "FI12345678", "", "", "1",
           "0", "0"]  # fmt: skip
    payload = row_payload(row, mapping)
    assert payload["name"] == "Oy Pitkä Nimi Ab"
    assert payload["customer_number"] == "0042"
    assert "address_line2" not in payload  # blank fields are left out
    assert mapped(headers, "suppliers")["number"] == "supplier_number"


# -- unknown / required / report columns ------------------------------------------------------------


def test_unknown_columns_are_listed_in_order() -> None:
    mapping = build_mapping(["Foo", "Namn", "Bar Baz", "Ort", "---"], "customers")
    assert mapping.unknown == ("Foo", "Bar Baz", "---")
    assert mapping.fields == {1: "name", 3: "city"}


def test_missing_required() -> None:
    assert build_mapping(["Org.nr", "Ort"], "customers").missing_required() == ("name",)
    assert build_mapping(["Förnamn", "Efternamn"], "customers").missing_required() == ()
    assert build_mapping(["Efternamn"], "customers").missing_required() == ()
    assert build_mapping(["Namn"], "suppliers").missing_required() == ()


def test_edited_error_report_is_recognised() -> None:
    headers = [*REPORT_COLUMNS, "Kundnummer", "Namn", "Org.nr", "Okänd"]
    mapping = build_mapping(headers, "customers")
    assert mapping.report_columns == {name: i for i, name in enumerate(REPORT_COLUMNS)}
    assert mapping.fields == {6: "customer_number", 7: "name", 8: "org_number"}
    assert mapping.unknown == ("Okänd",)
    values = ["12", "failed", "INVALID_ORG_NUMBER", "org_number", "bad checksum", "", "007", "Acme", "5566"]
    assert row_payload(values, mapping) == {"customer_number": "007", "name": "Acme", "org_number": "5566"}


def test_report_columns_with_canonical_field_headers() -> None:
    headers = [*REPORT_COLUMNS, *payload_fields("suppliers")]
    mapping = build_mapping(headers, "suppliers")
    assert set(mapping.report_columns) == set(REPORT_COLUMNS)
    assert sorted(mapping.fields.values()) == sorted(payload_fields("suppliers"))
    assert mapping.unknown == ()


# -- overrides and mapping files --------------------------------------------------------------------


def test_overrides_win_and_none_ignores() -> None:
    headers = ["Namn", "Kod", "Telefon", "Fax"]
    mapping = build_mapping(headers, "customers", {"Kod": "customer_number", "Telefon": None, "Namn": "notes"})
    assert mapping.fields == {0: "notes", 1: "customer_number"}
    assert mapping.unknown == ("Fax",)
    assert mapping.missing_required() == ("name",)


def test_override_keys_match_loosely_when_not_exact() -> None:
    mapping = build_mapping(["Kund Kod "], "customers", {"kund-kod": "customer_number"})
    assert mapping.fields == {0: "customer_number"}


def test_override_errors() -> None:
    with pytest.raises(ValueError, match=r"'Saknas'.*not in the file"):
        build_mapping(["Namn"], "customers", {"Saknas": "name"})
    with pytest.raises(ValueError, match="'nme' is not a customers field; valid targets: customer_number"):
        build_mapping(["Namn"], "customers", {"Namn": "nme"})
    with pytest.raises(ValueError, match="'supplier_number' is not a customers field"):
        build_mapping(["Nr"], "customers", {"Nr": "supplier_number"})


def test_load_mapping_file(tmp_path: Path) -> None:
    path = tmp_path / "mapping.json"
    path.write_text('\ufeff{"Kod": "customer_number", "Fax": null}', encoding="utf-8")
    assert load_mapping_file(path) == {"Kod": "customer_number", "Fax": None}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"Kod": "customer_number",}', r"map\.json: invalid JSON at line 1, column 27"),
        ('["Kod"]', r"map\.json: expected a JSON object"),
        (
            '{"Kod": "kundnummer"}',
            r"map\.json: 'kundnummer' \(for column 'Kod'\) is not a field; valid targets",
        ),
        ('{"Kod": 5}', r"map\.json: the target for 'Kod' must be a field name or null"),
    ],
)
def test_load_mapping_file_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "map.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_mapping_file(path)


def test_load_mapping_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nope\.json: cannot read"):
        load_mapping_file(tmp_path / "nope.json")


def test_mapping_file_round_trip_with_build_mapping(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"Kod": "supplier_number", "Kontonummer": "iban"}), encoding="utf-8")
    mapping = build_mapping(["Namn", "Kod", "Kontonummer"], "suppliers", load_mapping_file(path))
    assert mapping.fields == {0: "name", 1: "supplier_number", 2: "iban"}


# -- row_payload ------------------------------------------------------------------------------------


def test_payload_values_are_stripped_and_blanks_left_out() -> None:
    mapping = build_mapping(["Namn", "Org.nr", "Ort", "Postnr"], "customers")
    payload = row_payload(["  Acme AB ", "", "   ", "007"], mapping)
    assert payload == {"name": "Acme AB", "postal_code": "007"}
    assert isinstance(payload, CleanPayload)  # the models skip cleaning it again
    assert row_payload(["", " ", "\t", ""], mapping) == {}


def test_payload_first_non_blank_and_joined_fields() -> None:
    headers = ["Namn", "Telefon", "Mobil", "Namn 2", "Anteckningar", "Notes"]
    mapping = build_mapping(headers, "customers")
    assert row_payload(["Acme", "", "070-123", "Nordic", "a", "b"], mapping) == {
        "name": "Acme Nordic",
        "phone": "070-123",
        "notes": "a\nb",
    }
    assert row_payload(["Acme", "08-1", "070-123", " ", "", ""], mapping) == {"name": "Acme", "phone": "08-1"}
    assert row_payload(["", "", "", "", "", ""], mapping) == {}


@pytest.mark.parametrize(
    ("value", "is_person"),
    [("true", "false"), ("TRUE", "false"), ("1", "false"), ("Ja", "false"), ("false", "true"),
     ("0", "true"), ("nej", "true"), ("", None), ("maybe", "maybe")],
)  # fmt: skip
def test_is_company_becomes_inverted_is_person(value: str, is_person: str | None) -> None:
    mapping = build_mapping(["name", "isCompany"], "customers")
    expected = {"name": "x"} if is_person is None else {"name": "x", "is_person": is_person}
    assert row_payload(["x", value], mapping) == expected


def test_is_person_column_wins_when_first() -> None:
    mapping = build_mapping(["Privatperson", "isCompany"], "customers")
    assert row_payload(["ja", "true"], mapping) == {"is_person": "ja"}
    assert row_payload(["", "true"], mapping) == {"is_person": "false"}


def test_payload_unescapes_report_cells_and_pads_short_rows() -> None:
    mapping = build_mapping(["Namn", "Telefon", "Ort"], "customers")
    assert row_payload(["'=cmd", "'+46 70 1"], mapping) == {"name": "=cmd", "phone": "+46 70 1"}


def test_header_mapping_can_be_built_directly() -> None:
    mapping = HeaderMapping({0: "name", 2: "phone"}, (), {})
    assert row_payload(["Acme", "x", "08"], mapping) == {"name": "Acme", "phone": "08"}


@given(st.lists(st.text(max_size=8), min_size=4, max_size=4))
def test_payload_round_trips_escaped_values(values: list[str]) -> None:
    mapping = build_mapping(["Namn", "Telefon", "Ort", "Land"], "customers")
    payload = row_payload([escape_cell(v) for v in values], mapping)
    expected = [v.strip() or None for v in values]
    assert [payload.get(f) for f in ("name", "phone", "city", "country")] == expected
