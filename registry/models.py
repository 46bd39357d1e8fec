"""Create payloads of the registry API: `CustomerCreate` and `SupplierCreate`.

Rows arrive as strings from CSV (or ints/bools from JSON APIs). Blank values become None, text is stripped,
field-level rules run per field (all of a row's field errors are reported together) and the cross-field rules
(type inference, org/VAT numbers, banking fields) run once the fields are valid. Every error's `loc` is the
canonical field name and its message is the human message from `registry.normalize`; `field_errors` turns a
ValidationError into {field: message}. Problems that do not stop a row end up in `warnings`.
"""

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from operator import itemgetter
from typing import Annotated, Any, Final, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SkipValidation,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from registry import normalize
from registry.countries import EU_MEMBER_STATES, ISO_ALPHA2, country_code
from registry.errors import FieldWarning
from registry.fields import CUSTOMER_FIELDS, CUSTOMER_TYPES, SUPPLIER_FIELDS, SUPPLIER_TYPES

__all__ = ["CleanPayload", "CustomerCreate", "SupplierCreate", "field_errors"]

_VALUE_ERROR_PREFIX: Final = "Value error, "
_T = TypeVar("_T")
_R = TypeVar("_R")


def _error(message: str) -> PydanticCustomError:
    # The message goes in through the context: a "{" in a user's value must not be read as a placeholder.
    return PydanticCustomError("value_error", "{reason}", {"reason": message})


def _checked(fn: Callable[[_T], _R]) -> Callable[[_T], _R]:
    """Run a normalize function as a field validator whose error message is the function's own message."""

    def run(value: _T) -> _R:
        try:
            return fn(value)
        except ValueError as exc:
            raise _error(str(exc)) from None

    return run


def field_errors(exc: ValidationError) -> dict[str, str]:
    """{canonical field name: human message} of a failed row (the first message per field)."""
    result: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = error["loc"]
        field = ".".join(str(part) for part in loc) if loc else "__row__"
        message = error["msg"]
        if message.startswith(_VALUE_ERROR_PREFIX):
            message = message[len(_VALUE_ERROR_PREFIX) :]
        result.setdefault(field, message)
    return result


_CUSTOMER_VALUES: Final = itemgetter(*CUSTOMER_FIELDS)
_SUPPLIER_VALUES: Final = itemgetter(*SUPPLIER_FIELDS)


class CleanPayload(dict[str, Any]):
    """A payload cleaned already as the models clean their input: every value a non-empty stripped string.
    A file's rows come this way (`connectors.headers.row_payload`), and their cleaning is not done twice."""


# --- Field-level rules --------------------------------------------------------------------------------------

_INFER_BUSINESS: Final = "_business"  # "business"/"company": infer which business type from the country
_INFER_PERSON: Final = "_person"  # a person supplier: suppliers have no individual type
_TYPE_KEY: Final = re.compile(r"[\s\-]+")
_BUSINESS_ALIASES: Final = ("business", "company", "foretag", "företag", "bolag", "organisation",
                            "organization", "corporate", "b2b", "yritys")  # fmt: skip
_PERSON_ALIASES: Final = ("individual", "private", "person", "privatperson", "private_person", "privat",
                          "enskild_firma", "enskild", "sole_trader", "sole_proprietor", "consumer", "b2c",
                          "yksityishenkilo", "yksityishenkilö")  # fmt: skip
_CUSTOMER_TYPE_ALIASES: Final[dict[str, str]] = {
    **{t: t for t in CUSTOMER_TYPES},
    **dict.fromkeys(_BUSINESS_ALIASES, _INFER_BUSINESS),
    **dict.fromkeys(_PERSON_ALIASES, "individual"),
}
_SUPPLIER_TYPE_ALIASES: Final[dict[str, str]] = {
    **{t: t for t in SUPPLIER_TYPES},
    **dict.fromkeys(_BUSINESS_ALIASES, _INFER_BUSINESS),
    **dict.fromkeys(_PERSON_ALIASES, _INFER_PERSON),
}


def _type_parser(aliases: dict[str, str], kind: str, allowed: tuple[str, ...]) -> Callable[[str], str]:
    choices = ", ".join(allowed[:-1]) + f" or {allowed[-1]}"

    # A file names its types a few ways, once a row.
    @lru_cache(maxsize=256)
    def parse(value: str) -> str:
        found = aliases.get(_TYPE_KEY.sub("_", value.lower()))
        if found is None:
            raise ValueError(f"unknown {kind} type {value!r} (use {choices})")
        return found

    return parse


_MAX_EMAIL: Final = 255


def _email(value: str) -> str:
    result = normalize.email(value)
    if len(result) > _MAX_EMAIL:
        raise ValueError(f"e-mail addresses are longer than {_MAX_EMAIL} characters")
    return result


_ACCOUNT: Final = re.compile(r"\d{4,10}")


def _expense_account(value: str) -> str:
    if not _ACCOUNT.fullmatch(value):
        raise ValueError(f"{value!r} is not an account number (4–10 digits, e.g. BAS 5410)")
    return value


_CURRENCY: Final = re.compile(r"[A-Za-z]{3}")


def _currency(value: str) -> str:
    if not _CURRENCY.fullmatch(value):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code (3 letters, e.g. SEK)")
    return value.upper()


def _text(max_length: int) -> Any:
    return Field(default=None, max_length=max_length)


# Optional[Annotated[...]]: the validators only see non-blank values.
CustomerType = Annotated[str, AfterValidator(
    _checked(_type_parser(_CUSTOMER_TYPE_ALIASES, "customer", CUSTOMER_TYPES)))] | None  # fmt: skip
SupplierType = Annotated[str, AfterValidator(
    _checked(_type_parser(_SUPPLIER_TYPE_ALIASES, "supplier", SUPPLIER_TYPES)))] | None  # fmt: skip
Email = Annotated[str, AfterValidator(_checked(_email))] | None
Country = Annotated[str, AfterValidator(_checked(country_code))] | None
PaymentTerms = Annotated[int, BeforeValidator(_checked(normalize.payment_terms))] | None
YesNo = Annotated[bool, BeforeValidator(_checked(normalize.yes_no))] | None
ExpenseAccount = Annotated[str, AfterValidator(_checked(_expense_account))] | None
Currency = Annotated[str, AfterValidator(_checked(_currency))] | None


# --- Cross-field rules --------------------------------------------------------------------------------------


class _Row:
    """Errors and warnings collected by the cross-field pass."""

    __slots__ = ("errors", "model")

    def __init__(self, model: "CustomerCreate | SupplierCreate") -> None:
        self.model = model
        self.errors: list[InitErrorDetails] = []

    def fail(self, field: str, exc: ValueError) -> None:
        self.errors.append(InitErrorDetails(type=_error(str(exc)), loc=(field,), input=getattr(self.model, field)))

    def warn(self, field: str, code: str, message: str) -> None:
        self.model.warnings.append(FieldWarning(field, code, message))


_VAT_PREFIX_COUNTRY: Final = {"EL": "GR", "XI": "GB"}


def _resolve_org_and_vat(row: _Row, kind_type: str | None, type_field: str) -> None:
    """Normalise org_number and vat_number for the (resolved) type; warn about mismatches."""
    model = row.model
    country = model.country
    org_ok = False
    if model.org_number is not None:
        raw = model.org_number
        try:
            if kind_type == "individual" and country in (None, "SE"):
                _store(model, "org_number", normalize.personnummer(raw))
            elif kind_type == "swedish_business":
                _store(model, "org_number", normalize.org_number(raw, "SE"))
                if normalize.looks_like_personnummer(raw):
                    row.warn(
                        "org_number",
                        "PERSONNUMMER_AS_ORG_NUMBER",
                        "org_number is a personnummer: stored as a sole trader's organisation number",
                    )
            else:
                _store(model, "org_number", normalize.org_number(raw, country))
            org_ok = True
        except ValueError as exc:
            row.fail("org_number", exc)

    if model.vat_number is not None:
        _resolve_vat(row, model.vat_number, kind_type, org_ok)

    if kind_type in ("swedish_business", "eu_business", "non_eu_business") and country is not None:
        expected = "swedish_business" if country == "SE" else (
            "eu_business" if country in EU_MEMBER_STATES else "non_eu_business")  # fmt: skip
        if expected != kind_type:
            row.warn(type_field, "TYPE_COUNTRY_MISMATCH", f"{kind_type} does not match country {country}")


def _resolve_vat(row: _Row, given: str, kind_type: str | None, org_ok: bool) -> None:
    """Normalise vat_number (without a country, a Swedish business's is Swedish); warn when it is another
    country's, or when a Swedish business's does not hold its (valid) org number."""
    model = row.model
    country = model.country
    hint = country or ("SE" if kind_type == "swedish_business" else None)
    try:
        vat = normalize.vat_number(given, hint)
    except ValueError as exc:
        row.fail("vat_number", exc)
        return
    _store(model, "vat_number", vat)
    prefix = vat[:2]
    vat_country = _VAT_PREFIX_COUNTRY.get(prefix, prefix)
    if country is not None and vat_country in ISO_ALPHA2 and vat_country != country:
        row.warn("vat_number", "VAT_COUNTRY_MISMATCH", f"VAT number {vat} is not from country {country}")
    elif (
        prefix == "SE"
        and org_ok
        and kind_type == "swedish_business"
        and model.org_number is not None
        and vat[2:12] != model.org_number.replace("-", "")
    ):
        row.warn("vat_number", "VAT_ORG_MISMATCH", f"VAT number {vat} does not match org_number")


def _store(model: BaseModel, field: str, value: object) -> None:
    """Set a normalised value without pydantic's __setattr__ machinery (no validate_assignment here), keeping
    `model_fields_set` right for values the row did not give (an inferred type)."""
    model.__dict__[field] = value
    model.__pydantic_fields_set__.add(field)


def _fallback_type(row: _Row, type_field: str, exc: ValueError, person_type: str) -> str | None:
    """No type could be inferred. A Swedish-shaped number that failed its checks means a Swedish business (or
    person) with a bad number: report the number, not the type."""
    org = row.model.org_number
    if row.model.country is None and org is not None and normalize.has_swedish_org_shape(org):
        return person_type if normalize.has_personnummer_shape(org) else "swedish_business"
    row.fail(type_field, exc)
    return None


def _raise(model: BaseModel, row: _Row) -> None:
    if row.errors:
        raise ValidationError.from_exception_data(type(model).__name__, row.errors)


# --- Models -------------------------------------------------------------------------------------------------


class _PartyCreate(BaseModel):
    """What customers and suppliers share: input cleaning, hint fields, warnings."""

    model_config = ConfigDict(coerce_numbers_to_str=True, extra="ignore")

    is_person: YesNo = Field(default=None, exclude=True)
    first_name: str | None = Field(default=None, max_length=255, exclude=True)
    last_name: str | None = Field(default=None, max_length=255, exclude=True)
    warnings: Annotated[list[FieldWarning], SkipValidation] = Field(default_factory=list, exclude=True)
    # registry.fields.COMMON_FIELDS
    name: str = Field(min_length=1, max_length=255)
    email: Email = None
    phone: str | None = _text(50)
    org_number: str | None = _text(64)
    vat_number: str | None = _text(64)
    country: Country = None
    address_line1: str | None = _text(255)
    address_line2: str | None = _text(255)
    postal_code: str | None = _text(20)
    city: str | None = _text(100)
    default_payment_terms: PaymentTerms = None
    notes: str | None = _text(4000)

    @model_validator(mode="before")
    @classmethod
    def _clean_input(cls, data: Any) -> Any:
        """Strip text; drop blank, None and NaN (pandas) values so they take the default None (a blank name
        reads "Field required"); name from first/last name when name is blank."""
        if data.__class__ is CleanPayload:
            cleaned: dict[str, Any] = data
        else:
            if data.__class__ is not dict:
                if not isinstance(data, Mapping):
                    return data
                data = dict(data)
            cleaned = {}
            for key, value in data.items():
                if value.__class__ is str:
                    value = value.strip()
                    if value:
                        cleaned[key] = value
                elif value is not None and not (value.__class__ is float and value != value):
                    cleaned[key] = value
        cleaned.pop("warnings", None)  # output only: a "warnings" column in a file is not ours to trust
        if cleaned.get("name") is None:
            parts = [cleaned.get("first_name"), cleaned.get("last_name")]
            joined = " ".join(str(part) for part in parts if part is not None)
            if joined:
                cleaned["name"] = joined
        return cleaned


class CustomerCreate(_PartyCreate):
    customer_number: str | None = _text(64)
    customer_type: CustomerType = None

    @model_validator(mode="after")
    def _cross_field(self) -> Self:
        row = _Row(self)
        given = self.customer_type
        if given is None or given == _INFER_BUSINESS:
            is_person = False if given == _INFER_BUSINESS else self.is_person
            inferred: str | None
            try:
                inferred = normalize.infer_customer_type(self.country, self.org_number, is_person)
            except ValueError as exc:
                inferred = _fallback_type(row, "customer_type", exc, "individual")
            _store(self, "customer_type", inferred)
        _resolve_org_and_vat(row, self.customer_type, "customer_type")
        if self.customer_type == "eu_business" and self.vat_number is None:
            row.warn(
                "vat_number",
                "VAT_NUMBER_RECOMMENDED",
                "EU business customers should have a VAT number (reverse charge, VIES check)",
            )
        _raise(self, row)
        return self

    def db_values(self) -> dict[str, Any]:
        """The storable columns: exactly `CUSTOMER_FIELDS`, in that order."""
        # __dict__ is where pydantic (and `_store`) keep field values; zip and itemgetter make the dict in C.
        return dict(zip(CUSTOMER_FIELDS, _CUSTOMER_VALUES(self.__dict__), strict=True))


class SupplierCreate(_PartyCreate):
    supplier_number: str | None = _text(64)
    supplier_type: SupplierType = None
    bankgiro: str | None = _text(20)
    plusgiro: str | None = _text(20)
    iban: str | None = _text(64)
    bic: str | None = _text(20)
    default_expense_account: ExpenseAccount = None
    default_currency: Currency = None

    @model_validator(mode="after")
    def _cross_field(self) -> Self:
        row = _Row(self)
        given = self.supplier_type
        if given is None or given in (_INFER_BUSINESS, _INFER_PERSON):
            inferred: str | None
            try:
                inferred = normalize.infer_supplier_type(self.country, self.org_number, self.is_person)
            except ValueError as exc:
                inferred = _fallback_type(row, "supplier_type", exc, "swedish_business")
            _store(self, "supplier_type", inferred)
            if given == _INFER_PERSON and inferred is not None:
                row.warn(
                    "supplier_type",
                    "NO_INDIVIDUAL_SUPPLIER_TYPE",
                    f"suppliers have no individual type: stored as {inferred}",
                )
        _resolve_org_and_vat(row, self.supplier_type, "supplier_type")
        for field, check in (
            ("bankgiro", normalize.bankgiro),
            ("plusgiro", normalize.plusgiro),
            ("iban", normalize.iban),
            ("bic", normalize.bic),
        ):
            value = getattr(self, field)
            if value is not None:
                stored, warning = check(value)
                _store(self, field, stored)
                if warning is not None:
                    self.warnings.append(warning)
        _raise(self, row)
        return self

    def db_values(self) -> dict[str, Any]:
        """The storable columns: exactly `SUPPLIER_FIELDS`, in that order."""
        return dict(zip(SUPPLIER_FIELDS, _SUPPLIER_VALUES(self.__dict__), strict=True))
