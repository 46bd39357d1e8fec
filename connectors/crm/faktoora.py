"""faktoora (German e-invoicing SaaS) — GET {base}/customers, base e.g. https://api.faktoora.com/api/v1.

Facts (faktoora's API documentation): header `X-API-KEY`; query `page` (1-based), `perPage` (max
1000, clamped silently), `sort` (… createdAt, updatedAt) and `order` (asc|desc). Customers only.

NOT CONFIRMED and decided here (the fake server serves exactly this):
- page envelope: {"data": [...], "meta": {"page": 1, "perPage": 100, "total": 2345, "totalPages": 24}}; a
  bare JSON list of customers is accepted too. meta.page/meta.totalPages end the read when present (so a
  silently clamped perPage still pages right); without them an empty or short page is the last;
- field names beyond the docs table's cut-off: firstName, lastName, country, updatedAt, createdAt, id.

Reads:
- full (since=None): sort=createdAt&order=asc, so records created while we page land at the end;
- incremental: the list has no modified-since filter, so sort=updatedAt&order=desc and stop paging after
  the first page that holds a record last updated before `since`; records older than `since` are dropped.
  A record updated while we page moves to page 1 and may be missed in this read — it is newer than this
  sync's start, so the next incremental read (cursor = start of this sync, minus the overlap) picks it up.

Mapping: id → external_id; customerId → customer_number; isCompany false → is_person True (true → False;
missing → not given); name, firstName/lastName → name, first_name/last_name hints (the registry joins a
person's name); address → address_line1; postcode → postal_code; city; country (ISO alpha-2); email;
phoneNo → phone; vatId → vat_number; updatedAt → modified_at. taxId (a German Steuernummer) is neither an
org number nor a VAT number, and `notes` belong to the accountant — it stays in raw, as do
peppolId/glnId/dunsId. faktoora has no archive flag (deleting is the only removal), so archived is always
False.

"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import httpx

from registry.clock import utc
from registry.fields import Kind

from .base import (
    Connector,
    ExternalRecord,
    PageNumberPaginator,
    Paginator,
    Raw,
    last_by_page_count,
    parse_datetime,
)


class FaktooraConnector(Connector):
    name: ClassVar[str] = "faktoora"
    display_name: ClassVar[str] = "faktoora"
    kinds: ClassVar[tuple[Kind, ...]] = ("customers",)
    paths: ClassVar[dict[Kind, str]] = {"customers": "/customers"}
    records_path: ClassVar[str] = "data"
    bare_list_pages: ClassVar[bool] = True
    replication_key: ClassVar[str] = "updatedAt"
    max_page_size: ClassVar[int] = 1000
    default_rate_per_minute: ClassVar[float | None] = None  # no documented limit
    filters_since_client_side: ClassVar[bool] = True

    def auth_headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.credential.get_secret_value()}

    def paginator(self, kind: Kind, since: datetime | None) -> Paginator:
        if since is None:
            return PageNumberPaginator(
                "page",
                "perPage",
                self.page_size,
                extra={"sort": "createdAt", "order": "asc"},
                is_last=_LAST_PAGE,
            )
        bound = utc(since)

        def is_last(response: httpx.Response, records: list[Raw]) -> bool | None:
            times = [parse_datetime(record.get(self.replication_key)) for record in records]
            if any(t is not None and t < bound for t in times):
                return True
            return _LAST_PAGE(response, records)

        return PageNumberPaginator(
            "page", "perPage", self.page_size, extra={"sort": self.replication_key, "order": "desc"}, is_last=is_last
        )

    def map_record(self, raw: dict[str, object], kind: Kind) -> ExternalRecord | None:
        key = raw.get("id")
        if key is None or kind != "customers":
            return None
        is_company = raw.get("isCompany")
        payload: dict[str, object] = {
            "customer_number": raw.get("customerId"),
            "name": raw.get("name"),
            "first_name": raw.get("firstName"),
            "last_name": raw.get("lastName"),
            "email": raw.get("email"),
            "phone": raw.get("phoneNo"),
            "vat_number": raw.get("vatId"),
            "country": raw.get("country"),
            "address_line1": raw.get("address"),
            "postal_code": raw.get("postcode"),
            "city": raw.get("city"),
        }
        if isinstance(is_company, bool):
            payload["is_person"] = not is_company
        return self.record(kind, key, raw, payload, archived=False)


_LAST_PAGE = last_by_page_count("meta", "page", "totalPages")
