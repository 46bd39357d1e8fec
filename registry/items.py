"""One bulk-create item after validation: `Valid` (its storable columns and warnings) or `Rejected` (its error).

Plain data, so a reading process can validate and hand items over cheaply.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from pydantic import ValidationError

from registry.countries import VIES_PREFIXES
from registry.errors import FieldWarning
from registry.fields import Kind
from registry.models import CleanPayload, CustomerCreate, SupplierCreate, field_errors
from registry.normalize import has_personnummer_shape, mask_personnummer

MODELS: dict[Kind, type[CustomerCreate] | type[SupplierCreate]] = {
    "customers": CustomerCreate,
    "suppliers": SupplierCreate,
}
_VALIDATORS = {kind: model.__pydantic_validator__.validate_python for kind, model in MODELS.items()}
DUPLICATE_CODES: dict[Kind, str] = {
    "customers": "CUSTOMER_DUPLICATE_ORG_NUMBER",
    "suppliers": "SUPPLIER_DUPLICATE_ORG_NUMBER",
}


@dataclass(frozen=True, slots=True)
class Rejected:
    """An item already known to fail, with its API error (a streaming importer validates while it reads)."""

    error: dict[str, Any]


class Valid(NamedTuple):
    """An item that passed validation: its storable columns (`db_values()`) and its warnings."""

    values: dict[str, Any]
    warnings: list[FieldWarning]


# What the rules comparing fields (the org and VAT numbers against the type and the country) read.
_CROSS_FIELD_INPUTS = frozenset({"country", "customer_type", "supplier_type", "is_person", "org_number", "vat_number"})


def validate(kind: Kind, item: Mapping[str, Any]) -> Valid | Rejected:
    try:
        # The model's own validator, called directly: `model_validate` passes its options on at every call.
        model = _VALIDATORS[kind](item)
    except ValidationError as exc:
        failed = field_errors(exc)
        return Rejected(validation_error(failed | _cross_field_errors(kind, item, failed)))
    return Valid(model.db_values(), model.warnings)


def _cross_field_errors(kind: Kind, item: Mapping[str, Any], failed: Mapping[str, str]) -> dict[str, str]:
    """The errors of the rules comparing fields, which run only once every field is valid on its own: a row
    failing on its e-mail is judged on its org number too (the failing fields left out, a stand-in for a
    failing name), so one round of corrections is enough. Nothing when an input of those rules failed: they
    cannot be judged then."""
    if not failed.keys().isdisjoint(_CROSS_FIELD_INPUTS):
        return {}
    rest = {key: value for key, value in item.items() if key not in failed}
    rest.setdefault("name", "-")
    try:
        _VALIDATORS[kind](CleanPayload(rest) if isinstance(item, CleanPayload) else rest)
    except ValidationError as exc:
        return {field: reason for field, reason in field_errors(exc).items() if field not in failed}
    return {}


# What a database cannot store in text: Postgres refuses NUL, and no encoding holds half a surrogate pair.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE = "holds a character that cannot be stored (a NUL or half of a surrogate pair)"


def unstorable(payload: Mapping[str, Any]) -> Rejected | None:
    """The rejection of a record (an API's JSON, a CSV value) with text no database can store, naming its fields; it
    is checked before validation, whose messages may quote a value."""
    bad = {
        field: UNSTORABLE for field, value in payload.items() if isinstance(value, str) and _UNSTORABLE.search(value)
    }
    return Rejected(validation_error(bad)) if bad else None


def validation_error(fields: Mapping[str, str]) -> dict[str, Any]:
    message = "; ".join(f"{field}: {reason}" for field, reason in fields.items())
    return {"code": "VALIDATION_ERROR", "message": message, "fields": dict(fields)}


def duplicate_error(kind: Kind, org_number: str, where: str = "for this company") -> dict[str, Any]:
    # A sole trader's organisation number is their personnummer (or samordningsnummer): masked, as in a listing.
    shown = mask_personnummer(org_number) if has_personnummer_shape(org_number) else org_number
    return {
        "code": DUPLICATE_CODES[kind],
        "message": f"org number {shown} already exists {where}",
        "fields": {"org_number": f"{shown} already exists {where}"},
    }


def needs_vies(row: Mapping[str, Any]) -> bool:
    """EU-business customers with a VAT number VIES knows: the registry checks these against VIES on commit;
    GB numbers are not in VIES."""
    vat = row.get("vat_number")
    return row.get("customer_type") == "eu_business" and vat is not None and vat[:2] in VIES_PREFIXES
