"""Visma eAccounting (eEkonomi) API v2 — GET {base}/v2/customers, base e.g.
https://eaccountingapi.vismaonline.com.

Facts (Visma's API documentation): OAuth2 bearer token (the credential is the access token; refreshing
it is the caller's business); 600 requests per minute per client and endpoint (the default limit here),
over which the API answers 429 with {"ErrorCode": 4010, "DeveloperErrorMessage": "… Try again in 55
seconds.", …} — the base reads that wait when there is no Retry-After; wire JSON is PascalCase; envelope
{"Meta": {"CurrentPage", "PageSize", "TotalNumberOfPages", "TotalNumberOfResults", "ServerTimeUtc"},
"Data": [...]} (tests/fixtures/eaccounting_customers_page_shape.json, built from the names of a generated
client's models). Customers only.

NOT CONFIRMED and decided here: query `$page` (1-based) / `$pagesize` and the incremental filter
`$filter=ChangedUtc gt 2024-01-31T09:15:00Z` (OData-style, as Visma's API uses elsewhere). Paging follows
Meta: the next page is CurrentPage + 1 until TotalNumberOfPages (a server that caps our page size still
pages correctly); without Meta an empty or short page ends the read. Page size max 1000 (assumed), default
500.

Mapping: Id → external_id; CustomerNumber → customer_number; CorporateIdentityNumber → org_number;
VatNumber; Name; InvoiceAddress1/2 → address lines; InvoicePostalCode; InvoiceCity; InvoiceCountryCode →
country; EmailAddress → email; Telephone, else MobilePhone → phone; IsPrivatePerson → is_person hint (the
registry picks the type from it and the country); Note → notes; TermsOfPayment.NumberOfDays →
default_payment_terms only when the expanded object carries it (not in the sample); IsActive false →
archived; ChangedUtc → modified_at.

"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from registry.fields import Kind

from .base import (
    Connector,
    ExternalRecord,
    PageNumberPaginator,
    Paginator,
    first_filled,
    iso_utc,
    last_by_page_count,
    nested,
)


class VismaEAccountingConnector(Connector):
    name: ClassVar[str] = "visma-eaccounting"
    display_name: ClassVar[str] = "Visma eAccounting"
    kinds: ClassVar[tuple[Kind, ...]] = ("customers",)
    paths: ClassVar[dict[Kind, str]] = {"customers": "/v2/customers"}
    records_path: ClassVar[str] = "Data"
    replication_key: ClassVar[str] = "ChangedUtc"
    max_page_size: ClassVar[int] = 1000
    default_page_size: ClassVar[int | None] = 500
    default_rate_per_minute: ClassVar[float | None] = 600.0

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential.get_secret_value()}"}

    def paginator(self, kind: Kind, since: datetime | None) -> Paginator:
        extra = {"$filter": f"{self.replication_key} gt {iso_utc(since)}"} if since is not None else {}
        return PageNumberPaginator("$page", "$pagesize", self.page_size, extra=extra, is_last=_LAST_PAGE)

    def map_record(self, raw: dict[str, object], kind: Kind) -> ExternalRecord | None:
        key = raw.get("Id")
        if key is None or kind != "customers":
            return None
        payload: dict[str, object] = {
            "customer_number": raw.get("CustomerNumber"),
            "name": raw.get("Name"),
            "email": raw.get("EmailAddress"),
            "phone": first_filled(raw.get("Telephone"), raw.get("MobilePhone")),
            "org_number": raw.get("CorporateIdentityNumber"),
            "vat_number": raw.get("VatNumber"),
            "country": raw.get("InvoiceCountryCode"),
            "address_line1": raw.get("InvoiceAddress1"),
            "address_line2": raw.get("InvoiceAddress2"),
            "postal_code": raw.get("InvoicePostalCode"),
            "city": raw.get("InvoiceCity"),
            "notes": raw.get("Note"),
        }
        if isinstance(raw.get("IsPrivatePerson"), bool):
            payload["is_person"] = raw["IsPrivatePerson"]
        days = nested(raw, "TermsOfPayment", "NumberOfDays")
        if isinstance(days, int):
            payload["default_payment_terms"] = days
        return self.record(kind, key, raw, payload, archived=raw.get("IsActive") is False)


_LAST_PAGE = last_by_page_count("Meta", "CurrentPage", "TotalNumberOfPages")
