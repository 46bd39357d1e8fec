"""Map a CSV export's column headers onto the registry's canonical field names.

Matching ignores case, accents, spaces and punctuation ("Org.nr", "ORG-NR", "orgnr" are one key).  All
aliases live in `ALIASES` (field -> aliases); which fields exist depends on the kind (customers/suppliers),
so e.g. "Kundnummer" is a customer number in a customer file and an unknown column in a supplier file.

Besides the canonical fields (`registry.fields.payload_fields(kind)` and `HINT_FIELDS`) there is one
pseudo-field: "is_company" (faktoora's `isCompany`), which `row_payload` turns into an inverted "is_person".

Several columns may map to one field: fields in `JOINED_FIELDS` are joined (name + name2), for the others
the first non-blank value in column order wins (Telephone, MobilePhone -> phone).
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Final

from connectors.csv_source import unescape_cell
from registry.fields import HINT_FIELDS, Kind, payload_fields
from registry.models import CleanPayload

__all__ = [
    "ALIASES",
    "JOINED_FIELDS",
    "PSEUDO_FIELDS",
    "REPORT_COLUMNS",
    "HeaderMapping",
    "MappingFileError",
    "build_mapping",
    "known_header",
    "load_mapping_file",
    "normalize_header",
    "row_payload",
    "suggest",
    "valid_targets",
]

REPORT_COLUMNS: Final = ("row_number", "status", "error_code", "error_field", "error_message", "entity_id")

# Pseudo-fields a column may map to, and the canonical field each one feeds.
PSEUDO_FIELDS: Final[Mapping[str, str]] = {"is_company": "is_person"}

# Fields whose values from several columns are joined (in column order, blanks skipped) with this separator.
JOINED_FIELDS: Final[Mapping[str, str]] = {"name": " ", "notes": "\n"}

# field -> header aliases (English, Swedish, Danish, Norwegian, German, Finnish, and the column names of
# e-conomic, Visma eAccounting, faktoora and Lemonsoft).  A field's own name is always an alias too.
# Aliases are compared normalised, so variants that differ only in case/punctuation/accents match anyway;
# some are listed to document a source system's exact column name.  Fields that do not exist for a kind
# are skipped for that kind.
# fmt: off
ALIASES: Final[Mapping[str, tuple[str, ...]]] = {
    "customer_number": (
        "Customer number", "Customer no", "Customer nr", "Customer ID", "CustomerNumber", "customerId",
        "Number", "Nummer", "Nr", "No",
        "Kundnummer", "Kundnr", "Kund-nr",  # sv
        "Kundenummer", "Kundenr",  # da/no
        "Kundennummer", "Kunden-Nr", "Kundennr",  # de
        "Asiakasnumero", "Asiakasnro", "Asiakas nro",  # fi
    ),
    "supplier_number": (
        "Supplier number", "Supplier no", "Supplier nr", "Supplier ID", "SupplierNumber",
        "Vendor number", "Vendor no", "Vendor ID",
        "Number", "Nummer", "Nr", "No",
        "Leverantörsnummer", "Leverantörsnr", "Lev.nr", "Levnr",  # sv
        "Leverandørnummer", "Leverandørnr",  # da/no
        "Lieferantennummer", "Lieferanten-Nr", "Lieferantennr",  # de
        "Toimittajanumero", "Toimittajanro",  # fi
    ),
    "customer_type": ("Customer type", "Type", "Typ", "Kundtyp", "Kundetype", "Kundentyp", "Asiakastyyppi"),
    "supplier_type": ("Supplier type", "Type", "Typ", "Leverantörstyp", "Leverandørtype", "Lieferantentyp"),
    "name": (
        "Name", "Company", "Company name", "Business name", "Customer name", "Supplier name",
        "Name2", "Name 2",  # continuation line (Lemonsoft name2), joined onto name
        "Namn", "Namn 2", "Företag", "Företagsnamn", "Kundnamn", "Leverantörsnamn", "Firma",  # sv
        "Navn", "Navn 2", "Firmanavn", "Virksomhed", "Virksomhedsnavn",  # da/no
        "Kundenavn", "Leverandørnavn",  # da/no
        "Firmenname", "Firmenname 2", "Namenszusatz", "Kundenname", "Lieferantenname",  # de
        "Nimi", "Yritys", "Yrityksen nimi", "Asiakkaan nimi", "Toimittajan nimi",  # fi
    ),
    "first_name": ("First name", "Firstname", "Given name", "Förnamn", "Fornavn", "Vorname", "Etunimi"),
    "last_name": (
        "Last name", "Lastname", "Surname", "Family name",
        "Efternamn", "Efternavn", "Etternavn", "Nachname", "Familienname", "Sukunimi",
    ),
    "org_number": (
        "Organisation number", "Organization number", "Org number", "Org no", "Org nr", "Org-nummer",
        "Company registration number", "Registration number", "Business ID",
        "CorporateIdentityNumber", "corporateIdentificationNumber",
        "Organisationsnummer", "Organisationsnr", "Orgnr", "Org.nr", "Personnummer", "Personnr",  # sv
        "Org.nr/Personnr", "Personnr/Org.nr", "Organisationsnummer/Personnummer",
        "Organisasjonsnummer",  # no
        "CVR", "CVR-nr", "CVR-nummer",  # da
        "Handelsregisternummer",  # de
        "Y-tunnus", "Yritystunnus",  # fi (business ID; the VAT number is ALV-numero)
    ),
    "vat_number": (
        "VAT number", "VAT no", "VAT nr", "VAT", "VAT ID", "VAT reg no", "VAT registration number",
        "EU VAT number", "VatNumber", "vatId",
        "Momsnr", "Momsnummer", "Moms-nr", "Momsreg.nr", "Momsregistreringsnummer", "Momsregistreringsnr",
        "SE-nr", "SE-nummer",  # da
        "MVA-nr", "MVA-nummer",  # no
        "USt-IdNr", "USt-ID", "UStId", "UID", "UID-Nummer", "Umsatzsteuer-Identifikationsnummer",  # de/at
        "ALV-numero", "ALV-tunnus", "ALV-nro", "VAT-tunnus",  # fi
    ),
    "address_line1": (
        "Address", "Address 1", "Address line 1", "Street", "Street address", "InvoiceAddress1",
        "Adress", "Adress 1", "Adressrad 1", "Gatuadress", "Utdelningsadress", "Postadress",  # sv
        "Adresse", "Adresse 1", "Gateadresse", "Vejnavn",  # da/no/de
        "Straße", "Strasse", "Straße und Hausnummer", "Anschrift",  # de
        "Osoite", "Katuosoite", "Lähiosoite",  # fi
    ),
    "address_line2": (
        "Address 2", "Address line 2", "Street2", "Street 2", "InvoiceAddress2", "c/o", "Care of",
        "Adress 2", "Adressrad 2", "Utdelningsadress 2",  # sv
        "Adresse 2", "Adresselinje 2",  # da/no/de
        "Adresszusatz",  # de
        "Osoite 2", "Lisäosoite",  # fi
    ),
    "postal_code": (
        "Postal code", "Postcode", "Post code", "Zip", "Zip code", "InvoicePostalCode",
        "Postnummer", "Postnr", "Post nr",  # sv/da/no
        "PLZ", "Postleitzahl",  # de
        "Postinumero", "Postinro",  # fi
    ),
    "city": (
        "City", "Town", "Postal city", "InvoiceCity",
        "Ort", "Postort", "Stad",  # sv
        "By", "Postdistrikt", "Poststed", "Sted",  # da/no
        "Stadt", "Wohnort",  # de
        "Postitoimipaikka", "Kaupunki", "Paikkakunta",  # fi
    ),
    "country": (
        "Country", "Country code", "InvoiceCountryCode",
        "Land", "Landskod", "Landekode", "Landkode",  # sv/da/no/de
        "Länderkennzeichen", "Ländercode",  # de
        "Maa", "Maakoodi",  # fi
    ),
    "phone": (
        "Phone", "Phone number", "Telephone", "Tel", "Mobile", "Mobile phone", "MobilePhone", "phoneNo",
        "telephoneAndFaxNumber", "GSM",
        "Telefon", "Telefonnummer", "Telefonnr", "Tfn", "Mobil", "Mobiltelefon", "Mobilnummer",  # sv
        "Tlf", "Tlf.nr", "Mobilnr",  # da/no
        "Handy",  # de
        "Puhelin", "Puhelinnumero", "Puh", "Matkapuhelin",  # fi
    ),
    "email": (
        "Email", "E-mail", "Mail", "Email address", "EmailAddress", "E-mail address",
        "E-post", "Epost", "E-postadress",  # sv/no
        "E-mailadresse", "Mailadresse", "E-postadresse",  # da/no
        "E-Mail-Adresse",  # de
        "Sähköposti", "Sähköpostiosoite",  # fi
    ),
    "default_payment_terms": (
        "Payment terms", "Terms of payment", "Payment terms days", "Credit days",
        "Betalningsvillkor", "Betalvillkor", "Betalningsvillkor dagar", "Kredittid",  # sv
        "Betalingsbetingelser", "Betalingsfrist", "Betalingsvilkår",  # da/no
        "Zahlungsziel", "Zahlungsbedingungen",  # de
        "Maksuehto", "Maksuehdot", "Maksuaika",  # fi
    ),
    "notes": (
        "Notes", "Note", "Comment", "Comments", "Remarks",
        "Anteckningar", "Anteckning", "Kommentar", "Kommentarer", "Noteringar",  # sv
        "Noter", "Bemærkninger", "Merknad", "Merknader", "Notat",  # da/no
        "Bemerkungen", "Bemerkung", "Notiz", "Notizen",  # de
        "Huomautukset", "Huomautus", "Lisätiedot", "Muistiinpanot",  # fi
    ),
    "default_currency": (
        "Currency", "Currency code", "CurrencyCode", "currency_code",
        "Valuta", "Valutakod", "Valutakode",  # sv/da/no
        "Währung", "Waehrung",  # de
        "Valuutta",  # fi
    ),
    "bankgiro": ("Bankgiro", "Bankgironummer", "Bankgironr", "BG", "BG-nr", "BG-nummer"),
    "plusgiro": ("Plusgiro", "Plusgironummer", "Plusgironr", "PG", "PG-nr", "Postgiro", "Postgironummer"),
    "iban": ("IBAN", "IBAN-nummer", "IBAN number"),
    "bic": ("BIC", "SWIFT", "BIC/SWIFT", "SWIFT/BIC", "SWIFT code", "BIC code", "Swift-kod", "BIC-kod"),
    "default_expense_account": (
        "Expense account", "Default expense account", "Cost account", "costAccount", "Purchase account",
        "purchase_account",
        "Konto", "Kostnadskonto", "Inköpskonto",  # sv/no
        "Udgiftskonto", "Omkostningskonto",  # da
        "Aufwandskonto", "Kostenkonto",  # de
        "Kulutili", "Ostotili",  # fi
    ),
    "is_person": (
        "Is person", "Private person", "Is private person", "IsPrivatePerson", "Individual",
        "Privatperson", "Privatkund", "Privatkunde", "Yksityishenkilö",
    ),
    "is_company": ("isCompany", "Is company", "Company yes/no"),
}
# fmt: on

_EXTRA_FOLDS: Final = str.maketrans({"ø": "o", "æ": "ae", "đ": "d", "ł": "l", "þ": "th", "ð": "d", "œ": "oe"})

# faktoora's isCompany -> is_person: inverted for the spellings below, passed through otherwise (the
# is_person validator then reports the odd value).
_TRUE: Final = frozenset({"true", "1", "yes", "y", "ja", "j", "kyllä", "k", "x", "t", "sant", "wahr"})
_FALSE: Final = frozenset({"false", "0", "no", "n", "nej", "nein", "ei", "f", "falskt", "falsch", "-"})


def normalize_header(text: str) -> str:
    """Case-, accent-, space- and punctuation-insensitive key.

    "Org.-Nr." -> "orgnr", "Straße" -> "strasse", "Leverandør" -> "leverandor".
    """
    folded = unicodedata.normalize("NFKD", text.casefold().translate(_EXTRA_FOLDS))
    return "".join(ch for ch in folded if ch.isalnum())


def valid_targets(kind: Kind) -> tuple[str, ...]:
    """Field names a column may be mapped to for this kind (canonical, hints, pseudo-fields)."""
    return (*payload_fields(kind), *HINT_FIELDS, *PSEUDO_FIELDS)


def _all_targets() -> frozenset[str]:
    return frozenset(valid_targets("customers")) | frozenset(valid_targets("suppliers"))


def _build_lookup(kind: Kind) -> dict[str, str]:
    allowed = set(valid_targets(kind))
    lookup: dict[str, str] = {}
    for target, aliases in ALIASES.items():
        if target not in allowed:
            continue
        for alias in (target, *aliases):
            key = normalize_header(alias)
            other = lookup.setdefault(key, target)
            if other != target:
                raise AssertionError(f"alias {alias!r} maps to both {other} and {target} for {kind}")
    for target in allowed - set(ALIASES):
        lookup.setdefault(normalize_header(target), target)
    return lookup


_LOOKUP: Final[Mapping[str, Mapping[str, str]]] = {
    "customers": _build_lookup("customers"),
    "suppliers": _build_lookup("suppliers"),
}
_REPORT_KEYS: Final[Mapping[str, str]] = {normalize_header(c): c for c in REPORT_COLUMNS}


@dataclass(frozen=True)
class _Plan:
    """Everything row_payload needs, precomputed from HeaderMapping.fields."""

    width: int  # values shorter than this are padded
    simple: tuple[tuple[str, int], ...]  # (field, column): one plain column
    first: tuple[tuple[str, tuple[tuple[int, bool], ...]], ...]  # first non-blank of (column, invert)
    joined: tuple[tuple[str, str, tuple[int, ...]], ...]  # (field, separator, columns)
    names: tuple[str, ...]  # the simple fields, in order
    cells: Callable[[Sequence[str]], Sequence[str]]  # a row's cells of the simple fields, in that order


def _picker(columns: Sequence[int]) -> Callable[[Sequence[str]], Sequence[str]]:
    if not columns:
        return lambda _: ()
    # itemgetter of one index gives the value itself: ask for the first twice (zip with the names stops short).
    return itemgetter(*columns, columns[0])


def _make_plan(fields: Mapping[int, str]) -> _Plan:
    by_target: dict[str, list[tuple[int, bool]]] = {}
    for index in sorted(fields):
        name = fields[index]
        target = PSEUDO_FIELDS.get(name, name)
        by_target.setdefault(target, []).append((index, name in PSEUDO_FIELDS))
    simple: list[tuple[str, int]] = []
    first: list[tuple[str, tuple[tuple[int, bool], ...]]] = []
    joined: list[tuple[str, str, tuple[int, ...]]] = []
    for target, columns in by_target.items():
        if len(columns) == 1 and not columns[0][1]:
            simple.append((target, columns[0][0]))
        elif target in JOINED_FIELDS and not any(inv for _, inv in columns):
            joined.append((target, JOINED_FIELDS[target], tuple(i for i, _ in columns)))
        else:
            first.append((target, tuple(columns)))
    width = max(fields, default=-1) + 1
    names = tuple(name for name, _ in simple)
    return _Plan(width, tuple(simple), tuple(first), tuple(joined), names, _picker([i for _, i in simple]))


# How close (rapidfuzz's ratio, 0-100) a header must come to an alias to be suggested as that field: a typo or
# a variant spelling ("Orgnisationsnummer", "VAT-nummer") scores 88-97, an unrelated column ("Kontaktperson")
# under 70.
_SUGGESTION_SCORE: Final = 85


def suggest(header: str, kind: Kind) -> str | None:
    """The field a header no alias names most likely means: a suggestion for a person, never applied."""
    key = normalize_header(header)
    if len(key) < 4:  # "Nr2", "Typ": too short to tell a typo from another word
        return None
    from rapidfuzz import fuzz, process  # here: most files have no such header, and most processes never ask

    lookup = _LOOKUP[kind]
    found = process.extractOne(key, lookup.keys(), scorer=fuzz.ratio, score_cutoff=_SUGGESTION_SCORE)
    return lookup[found[0]] if found else None


# How a column came to its field.
ALIAS, GIVEN, LEARNED = "alias", "mapping", "learned"


@dataclass(frozen=True)
class HeaderMapping:
    fields: dict[int, str]  # column index -> canonical field (or the pseudo-field "is_company")
    unknown: tuple[str, ...]  # source headers that map to nothing (warn the user)
    report_columns: dict[str, int]  # report columns present (an edited error report) -> column index
    how: dict[int, str] = field(default_factory=dict, compare=False)  # column index -> ALIAS, GIVEN or LEARNED
    ignored: tuple[str, ...] = ()  # headers a mapping leaves out (null)
    _plan: _Plan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plan", _make_plan(self.fields))

    def missing_required(self) -> tuple[str, ...]:
        """("name",) unless a column gives the name (name, or first/last name of a person)."""
        mapped = set(self.fields.values())
        return () if mapped & {"name", "first_name", "last_name"} else ("name",)

    def lookalikes(self, kind: Kind) -> dict[str, str]:
        """Unknown headers that look like a field no other column gives: header -> that field."""
        mapped = {PSEUDO_FIELDS.get(f, f) for f in self.fields.values()}
        found = {header: suggest(header, kind) for header in self.unknown}
        return {header: f for header, f in found.items() if f is not None and f not in mapped}


def build_mapping(
    headers: Sequence[str],
    kind: Kind,
    overrides: Mapping[str, str | None] | None = None,
    learned: Mapping[str, str | None] | None = None,
) -> HeaderMapping:
    """Map each header to a field.  `overrides` (header -> field, or None = ignore) win over aliases;
    `learned` (the mapping remembered for this layout of headers) fills in what `overrides` leave.

    Raises ValueError for an override naming a header not in the file, or a target that is not a field.
    """
    targets = valid_targets(kind)
    by_override: dict[int, str | None] = {}
    how: dict[int, str] = {}
    keys = [normalize_header(h) for h in headers]
    given = [(learned or {}, LEARNED), (overrides or {}, GIVEN)]  # the given mapping last: it wins
    for mapping, origin in given:
        for source, target in mapping.items():
            if target is not None and target not in targets:
                raise ValueError(
                    f"mapping for column {source!r}: {target!r} is not a {kind} field; "
                    f"valid targets: {', '.join(targets)}"
                )
            hits = [i for i, h in enumerate(headers) if h == source]
            if not hits:
                key = normalize_header(source)
                hits = [i for i, k in enumerate(keys) if key and k == key]
            if not hits:
                raise ValueError(
                    f"mapping names column {source!r}, which is not in the file "
                    f"(columns: {', '.join(repr(h) for h in headers)})"
                )
            for i in hits:
                by_override[i] = target
                how[i] = origin
    lookup = _LOOKUP[kind]
    fields: dict[int, str] = {}
    unknown: list[str] = []
    ignored: list[str] = []
    report_columns: dict[str, int] = {}
    for i, header in enumerate(headers):
        key = normalize_header(header)
        report = _REPORT_KEYS.get(key)
        if report is not None and report not in report_columns:
            report_columns[report] = i
            continue
        if i in by_override:
            target = by_override[i]
            if target is not None:
                fields[i] = target
            else:
                ignored.append(header)
            continue
        found = lookup.get(key) if key else None
        if found is None:
            unknown.append(header)
        else:
            fields[i] = found
            how[i] = ALIAS
    return HeaderMapping(fields, tuple(unknown), report_columns, how, tuple(ignored))


class MappingFileError(ValueError):
    """A `--mapping` file that cannot be used: which file, and why (`reason`, without the file's name)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def load_mapping_file(path: str | os.PathLike[str]) -> dict[str, str | None]:
    """Read a `--mapping` JSON file: {"Source header": "canonical_field" | null (= ignore the column)}.

    Raises MappingFileError on unreadable/invalid JSON or an unknown target field.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig") as f:
            data = json.load(f)
    except OSError as exc:
        raise MappingFileError(name, f"cannot read the mapping file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise MappingFileError(name, "the mapping file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise MappingFileError(name, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise MappingFileError(name, 'expected a JSON object like {"Source header": "canonical_field"}')
    allowed = _all_targets()
    result: dict[str, str | None] = {}
    for source, target in data.items():
        if target is not None and not isinstance(target, str):
            raise MappingFileError(name, f"the target for {source!r} must be a field name or null, not {target!r}")
        if target is not None and target not in allowed:
            raise MappingFileError(
                name, f"{target!r} (for column {source!r}) is not a field; valid targets: {', '.join(sorted(allowed))}"
            )
        result[source] = target
    return result


def row_payload(values: Sequence[str], mapping: HeaderMapping) -> CleanPayload:
    """Canonical field -> value for one row, cleaned as validation cleans it: a spreadsheet escape undone,
    surrounding whitespace stripped, blank fields left out (so an empty row gives an empty payload).

    Hot path: all decisions were taken in build_mapping, and the common case runs in C loops."""
    plan = mapping._plan
    if len(values) < plan.width:
        values = (*values, *("",) * (plan.width - len(values)))
    cells = plan.cells(values)
    if "\x1f'" in "\x1f" + "\x1f".join(cells):  # a cell starts with ' (one joined search finds it fastest)
        cells = [unescape_cell(c) for c in cells]
    out = CleanPayload(filter(_VALUE, zip(plan.names, map(str.strip, cells), strict=False)))
    for name, columns in plan.first:
        for i, invert in columns:
            v = values[i]
            if v and not v.isspace():
                if value := _invert(v) if invert else _clean(v):
                    out[name] = value
                break
    for name, sep, indexes in plan.joined:
        parts = [p for p in (_clean(values[i]) for i in indexes) if p]
        if parts:
            out[name] = sep.join(parts)
    return out


_VALUE: Final = itemgetter(1)  # a (field, value) pair with a value


def _clean(value: str) -> str:
    """A cell's value: the spreadsheet escape undone, stripped ("" when blank)."""
    return (unescape_cell(value) if value[:1] == "'" else value).strip()


def _invert(value: str) -> str:
    key = value.strip().casefold()
    if key in _TRUE:
        return "false"
    if key in _FALSE:
        return "true"
    return value.strip()


def known_header(text: str) -> bool:
    """Whether a cell names a field (of either kind) or a report column: how a table's header row is told
    apart from a title block above it."""
    key = normalize_header(text)
    return key in _LOOKUP["customers"] or key in _LOOKUP["suppliers"] or key in _REPORT_KEYS
