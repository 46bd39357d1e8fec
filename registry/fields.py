"""Canonical field names of the registry API's customer and supplier create payloads.

Connectors map their sources onto these names; `registry.models` validates them; the tables store them.
"""

from typing import Final, Literal

Kind = Literal["customers", "suppliers"]

CUSTOMER_TYPES: Final = ("swedish_business", "eu_business", "non_eu_business", "individual")
SUPPLIER_TYPES: Final = ("swedish_business", "eu_business", "non_eu_business")

# Fields both kinds share, in the order a report or listing shows them.
COMMON_FIELDS: Final = (
    "name",
    "email",
    "phone",
    "org_number",
    "vat_number",
    "country",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "default_payment_terms",
    "notes",
)
CUSTOMER_FIELDS: Final = ("customer_number", "customer_type", *COMMON_FIELDS)
SUPPLIER_FIELDS: Final = (
    "supplier_number",
    "supplier_type",
    *COMMON_FIELDS,
    "bankgiro",
    "plusgiro",
    "iban",
    "bic",
    "default_expense_account",
    "default_currency",
)
# Inputs that are not stored but steer normalisation: a source's "is company / private person" flag and a
# person's split name (joined into `name`).
HINT_FIELDS: Final = ("is_person", "first_name", "last_name")


def payload_fields(kind: Kind) -> tuple[str, ...]:
    return CUSTOMER_FIELDS if kind == "customers" else SUPPLIER_FIELDS


def own_number(kind: Kind) -> str:
    """The source's own number of a record (the accountant's customer or supplier number)."""
    return "customer_number" if kind == "customers" else "supplier_number"
