"""e-conomic (Visma) REST API, restapi.e-conomic.com — GET /customers and GET /suppliers.

Facts (e-conomic's documentation, and the recorded pages in tests/fixtures/economic_*.json):
- auth headers X-AppSecretToken + X-AgreementGrantToken; our credential is
  "APP_SECRET_TOKEN:AGREEMENT_GRANT_TOKEN" ("demo:demo" is the read-only demo agreement);
- paging `skippages` (0-based) + `pagesize` (≤ 1000); envelope {"collection": [...], "pagination": {...,
  "nextPage": url (absent on the last page)}, "self": url}. We follow nextPage's query (merged over our
  first query, so the filter is kept even if a nextPage URL dropped it), never a counter of our own; a
  nextPage that repeats a page already read is a FatalError (base);
- incremental reads: `filter=lastUpdated$gt:<ISO UTC>` on customers. Suppliers carry no `lastUpdated` in
  the recorded payloads or in the documented supplier fields, so suppliers are always read in full
  (`since` ignored, modified_at None);
- false booleans are omitted: `barred` absent = not barred → archived False.

Mapping decisions:
- every mapped field is present in the payload; None = the source has no value (e-conomic omits a property
  to null it). customer_number/supplier_number keep the source's int;
- phone: customers telephoneAndFaxNumber, else mobilePhone; suppliers phone;
- corporateIdentificationNumber → org_number as given (real data holds "DK12345678" or junk like "Test";
  the registry validates). vatNumber → vat_number (customers; suppliers have none documented);
- country is free text ("Danmark", "Norway") passed through; the registry normalises it;
- customer_type / supplier_type from vatZone.vatZoneNumber (1 domestic, 2 EU, 3 abroad, 4 domestic
  VAT-exempt) only when the agreement's home country is Sweden (`home_country="SE"`): 1/4 →
  swedish_business, 2 → eu_business, 3 → non_eu_business. For any other home country (default "DK") the
  zone says where the party is relative to Denmark, not to the registry's Sweden (an EU-zone party of a
  Danish agreement may be Swedish), and recorded data has domestic-zone customers in India — so the type
  is left out and the registry infers it from the country;
- paymentTerms is a reference (paymentTermsNumber), not days → not mapped; suppliers' currency →
  default_currency; bankAccount → iban only when it looks like one (2 letters + 2 digits …), otherwise
  only in raw; costAccount.accountNumber → default_expense_account.

"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx

from registry.fields import Kind

from .base import (
    Connector,
    ExternalRecord,
    FatalError,
    Paginator,
    Raw,
    first_filled,
    iso_utc,
    json_body,
    nested,
)

_IBAN_LIKE = re.compile(r"[A-Za-z]{2}\d{2}[A-Za-z0-9 ]{8,}")
_NUMBER: dict[Kind, str] = {"customers": "customerNumber", "suppliers": "supplierNumber"}  # the record's id


class NextPageLinkPaginator:
    """Follows pagination.nextPage of an e-conomic collection; None when it is absent."""

    def __init__(self, first: dict[str, str]) -> None:
        self._first = first

    def first(self) -> dict[str, str]:
        return dict(self._first)

    def get_next(self, response: httpx.Response, records: list[Raw]) -> dict[str, str] | None:
        next_url = _next_page_link(json_body(response))
        if next_url is None:
            return None
        return {**self._first, **dict(parse_qsl(urlsplit(next_url).query, keep_blank_values=True))}


def _next_page_link(body: object) -> str | None:
    link = nested(body, "pagination", "nextPage") if isinstance(body, dict) else None
    return link if isinstance(link, str) and link else None


class EconomicConnector(Connector):
    name: ClassVar[str] = "economic"
    display_name: ClassVar[str] = "e-conomic"
    kinds: ClassVar[tuple[Kind, ...]] = ("customers", "suppliers")
    paths: ClassVar[dict[Kind, str]] = {"customers": "/customers", "suppliers": "/suppliers"}
    records_path: ClassVar[str] = "collection"
    replication_key: ClassVar[str] = "lastUpdated"
    max_page_size: ClassVar[int] = 1000
    # Fair use is 50,000 calls per agreement per 24 h; a full read of 20,000 records is 20 calls.
    default_rate_per_minute: ClassVar[float | None] = None

    def _set_options(self, *, home_country: str = "DK") -> None:
        """`home_country`: the agreement's country; only a Swedish agreement's VAT zones give a party type."""
        self.home_country = home_country.strip().upper()

    def auth_headers(self) -> dict[str, str]:
        app_secret, sep, grant = self.credential.get_secret_value().partition(":")
        if not sep or not app_secret or not grant:
            raise FatalError("e-conomic credential must be 'APP_SECRET_TOKEN:AGREEMENT_GRANT_TOKEN'")
        return {"X-AppSecretToken": app_secret, "X-AgreementGrantToken": grant}

    def paginator(self, kind: Kind, since: datetime | None) -> Paginator:
        first = {"skippages": "0", "pagesize": str(self.page_size)}
        if since is not None and kind == "customers":
            first["filter"] = f"{self.replication_key}$gt:{iso_utc(since)}"
        return NextPageLinkPaginator(first)

    def map_record(self, raw: dict[str, object], kind: Kind) -> ExternalRecord | None:
        key = raw.get(_NUMBER[kind])
        if key is None:
            return None
        common: dict[str, Any] = {
            "name": raw.get("name"),
            "email": raw.get("email"),
            "org_number": raw.get("corporateIdentificationNumber"),
            "country": raw.get("country"),
            "address_line1": raw.get("address"),
            "postal_code": raw.get("zip"),
            "city": raw.get("city"),
        }
        party_type = self._party_type(nested(raw, "vatZone", "vatZoneNumber"))
        payload: dict[str, object]
        if kind == "customers":
            payload = {"customer_number": key, **common}
            payload["phone"] = first_filled(raw.get("telephoneAndFaxNumber"), raw.get("mobilePhone"))
            payload["vat_number"] = raw.get("vatNumber")
            if party_type:
                payload["customer_type"] = party_type
        else:
            payload = {"supplier_number": key, **common, "phone": raw.get("phone")}
            bank_account = raw.get("bankAccount")
            is_iban = isinstance(bank_account, str) and _IBAN_LIKE.fullmatch(bank_account.strip())
            payload["iban"] = bank_account if is_iban else None
            payload["default_expense_account"] = nested(raw, "costAccount", "accountNumber")
            payload["default_currency"] = raw.get("currency")
            if party_type:
                payload["supplier_type"] = party_type
        return self.record(kind, key, raw, payload, archived=raw.get("barred") is True)

    def _party_type(self, zone: object) -> str | None:
        if self.home_country != "SE":
            return None
        return {1: "swedish_business", 4: "swedish_business", 2: "eu_business", 3: "non_eu_business"}.get(
            zone if isinstance(zone, int) else -1
        )
