"""Planning a request without the database: each row's columns in place, the fingerprint, rejections."""

import hashlib
import marshal
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from registry.items import Rejected, validate
from registry.plan import COLUMNS, prepare

STAMP = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_a_customer_record_holds_each_column_in_its_place() -> None:
    items = [
        {"name": "Acme AB", "org_number": "5566778899", "country": "Sverige", "email": "A@Acme.SE"},
        {"name": "Foo OY", "vat_number": "FI20774740", "country": "FI", "default_payment_terms": "30 dagar"},
    ]
    prepared = prepare("customers", "acme", items, STAMP)
    acme, foo = (dict(zip(COLUMNS["customers"], r, strict=True)) for r in prepared.records)
    assert uuid.UUID(acme.pop("id")).version == 4
    assert acme == {
        "company_id": "acme", "name": "Acme AB", "email": "A@acme.se", "phone": None, "org_number": "556677-8899",
        "vat_number": None, "country": "SE", "address_line1": None, "address_line2": None, "postal_code": None,
        "city": None, "default_payment_terms": None, "notes": None, "archived_at": None, "created_at": STAMP,
        "updated_at": STAMP, "customer_number": None, "customer_type": "swedish_business",
        "vat_number_validated": False, "vat_check_status": "not_applicable", "vat_checked_at": None,
    }  # fmt: skip
    assert (foo["customer_type"], foo["vat_check_status"], foo["default_payment_terms"]) == (
        "eu_business",
        "pending",
        30,
    )
    assert foo["created_at"] == foo["updated_at"] == STAMP + timedelta(microseconds=1)
    assert prepared.pending == [1] and prepared.positions == [0, 1]


def test_a_supplier_record_holds_each_column_in_its_place() -> None:
    item = {"name": "Kontor AB", "org_number": "556677-8899", "iban": "SE45 5000 0000 0583 9825 7466",
            "bic": "ESSESESS", "default_currency": "sek", "default_expense_account": "5410"}  # fmt: skip
    (record,) = prepare("suppliers", "acme", [item], STAMP).records
    row = dict(zip(COLUMNS["suppliers"], record, strict=True))
    del row["id"]
    assert row == {
        "company_id": "acme", "name": "Kontor AB", "email": None, "phone": None, "org_number": "556677-8899",
        "vat_number": None, "country": None, "address_line1": None, "address_line2": None, "postal_code": None,
        "city": None, "default_payment_terms": None, "notes": None, "archived_at": None, "created_at": STAMP,
        "updated_at": STAMP, "supplier_number": None, "supplier_type": "swedish_business", "bankgiro": None,
        "plusgiro": None, "iban": "SE4550000000058398257466", "bic": "ESSESESS", "default_expense_account": "5410",
        "default_currency": "SEK",
    }  # fmt: skip


def test_a_rejected_item_leaves_the_request_and_changes_its_fingerprint() -> None:
    items = [{"name": "A AB", "country": "SE"}, {"name": "B AB", "org_number": "556677-8899", "country": "SE"}]
    prepared = prepare("customers", "acme", items, STAMP)
    again = prepare("customers", "other", items, STAMP + timedelta(days=1))
    assert prepared.digest == again.digest  # the same payload, wherever and whenever it is planned
    before = prepared.digest
    prepared.reject(1, {"code": "CUSTOMER_DUPLICATE_ORG_NUMBER", "message": "on line 2", "fields": {}})
    assert prepared.positions == [0] and len(prepared.records) == 1 and 1 in prepared.failed
    assert prepared.digest != before


def test_a_request_matches_the_fingerprint_keys_were_stored_with_before_the_upgrade() -> None:
    """Before keys stored ids only, they stored the whole response and a fingerprint of {field: value} dicts
    (an invalid item, or one failed before the request, as {"rejected": error}): a request planned now
    matches such a key when its payload is the same."""
    items: list[dict[str, Any]] = [
        {"name": "A AB", "org_number": "556677-8899", "country": "SE"},
        {"name": "Bad AB", "org_number": "556677-8898", "country": "SE"},
        {"name": "A AB twin", "org_number": "556677-8899"},  # repeats item 0's org number
        {"name": "Foo OY", "vat_number": "FI20774740", "country": "FI"},
        {"name": "C AB", "org_number": "556016-0680"},  # fails before the request: a duplicate in the file
    ]
    file_duplicate = {"code": "CUSTOMER_DUPLICATE_ORG_NUMBER", "message": "on line 2", "fields": {}}
    checked = [validate("customers", i) for i in items[:4]] + [Rejected(file_duplicate)]
    old = hashlib.sha256(
        marshal.dumps([{"rejected": c.error} if isinstance(c, Rejected) else dict(c.values) for c in checked], 2)
    ).hexdigest()
    full_response = {"results": [], "summary": {}}
    prepared = prepare("customers", "acme", items, STAMP)
    prepared.reject(4, file_duplicate)
    assert prepared.digest != old
    assert prepared.matches(prepared.digest, {"ids": []}) and prepared.matches(prepared.digest, full_response)
    assert prepared.matches(old, full_response)
    assert not prepared.matches(old, {"ids": []})  # keys stored with ids only have today's fingerprint
    other = prepare("customers", "acme", [*items[:3], {**items[3], "notes": "x"}, items[4]], STAMP)
    other.reject(4, file_duplicate)
    assert not other.matches(old, full_response)
