"""The registry's tables and the run bookkeeping tables, for Postgres and SQLite alike.

Columns of `customers` / `suppliers` are the create payloads' fields (`registry.fields`) plus identity, tenancy
and time.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = DateTime(timezone=True)


def _party_columns() -> list[Column[object]]:
    """Columns customers and suppliers share; each table gets its own Column objects."""
    return [
        Column("id", Uuid, primary_key=True),
        Column("company_id", String(64), nullable=False),
        Column("name", String(255), nullable=False),
        Column("email", String(255)),
        Column("phone", String(50)),
        # As long as the models allow: foreign numbers are stored as supplied.
        Column("org_number", String(64)),
        Column("vat_number", String(64)),
        Column("country", String(2)),
        Column("address_line1", String(255)),
        Column("address_line2", String(255)),
        Column("postal_code", String(20)),
        Column("city", String(100)),
        Column("default_payment_terms", Integer),
        Column("notes", Text),
        Column("archived_at", TS),
        Column("created_at", TS, nullable=False),
        Column("updated_at", TS, nullable=False),
    ]


def _lookup(table: str, column: str) -> Index:
    """A file import finds the records its rows match by these (registry numbers and VAT numbers), a group of
    rows at a time; partial: most records of a kind lack one or the other."""
    where = text(f"{column} IS NOT NULL")
    return Index(f"ix_{table}_company_{column}", "company_id", column, postgresql_where=where, sqlite_where=where)


def _unique_org_number(table: str) -> Index:
    # Partial: many parties (foreign, individuals without personnummer) have no org number.
    where = text("org_number IS NOT NULL")
    return Index(
        f"uq_{table}_company_org_number",
        "company_id",
        "org_number",
        unique=True,
        postgresql_where=where,
        sqlite_where=where,
    )


customers = Table(
    "customers",
    metadata,
    *_party_columns(),
    Column("customer_number", String(64)),
    Column("customer_type", String(20), nullable=False),
    Column("vat_number_validated", Boolean, nullable=False, server_default="0"),
    Column("vat_check_status", String(16), nullable=False, server_default="not_applicable"),
    Column("vat_checked_at", TS),
    _unique_org_number("customers"),
    Index("ix_customers_company_created", "company_id", "created_at"),
    _lookup("customers", "customer_number"),
    _lookup("customers", "vat_number"),
)

suppliers = Table(
    "suppliers",
    metadata,
    *_party_columns(),
    Column("supplier_number", String(64)),
    Column("supplier_type", String(20), nullable=False),
    Column("bankgiro", String(20)),
    Column("plusgiro", String(20)),
    Column("iban", String(64)),  # stored as supplied when invalid (with a warning), so longer than 34
    Column("bic", String(20)),
    Column("default_expense_account", String(10)),
    Column("default_currency", String(3)),
    _unique_org_number("suppliers"),
    Index("ix_suppliers_company_created", "company_id", "created_at"),
    _lookup("suppliers", "supplier_number"),
    _lookup("suppliers", "vat_number"),
)

# Bulk-create idempotency: the stored response is written in the same transaction as the rows.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("company_id", String(64), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("response", JSON),
    Column("created_at", TS, nullable=False),
)

import_runs = Table(
    "import_runs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("company_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("source", String(32), nullable=False),
    Column("source_name", Text, nullable=False),
    Column("source_sha256", String(64)),
    Column("options", JSON, nullable=False),
    Column("headers", JSON),
    Column("status", String(24), nullable=False),
    Column("dry_run", Boolean, nullable=False, server_default="0"),
    Column("total", Integer, nullable=False, server_default="0"),
    Column("processed", Integer, nullable=False, server_default="0"),
    Column("created", Integer, nullable=False, server_default="0"),
    Column("updated", Integer, nullable=False, server_default="0"),
    Column("skipped", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("archived", Integer, nullable=False, server_default="0"),  # syncs: of the updated rows
    Column("warned", Integer, nullable=False, server_default="0"),  # of the created and updated rows
    Column("parent_run_id", Uuid, ForeignKey("import_runs.id")),
    Column("error", Text),
    Column("warnings", JSON),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", TS),
    Column("created_at", TS, nullable=False),
    Column("started_at", TS),
    Column("finished_at", TS),
    Column("purged_at", TS),  # its source values were dropped then (retention); counts and outcomes stay
    Index("ix_import_runs_company_created", "company_id", "created_at"),
)

# A run's record of its source rows, one row per batch (jobs.run_rows reads and writes it): the batch's counts,
# its rows' outcomes and their raw values as JSON text. No foreign key: runs are never deleted, and only the
# run's lease holder writes its batches.
import_batches = Table(
    "import_batches",
    metadata,
    Column("run_id", Uuid, primary_key=True),
    Column("batch_index", Integer, primary_key=True),
    Column("max_row", Integer, nullable=False),  # the highest row number in the batch
    Column("created", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("archived", Integer, nullable=False),
    Column("warned", Integer, nullable=False, server_default="0"),
    Column("outcomes", Text, nullable=False),
    Column("raw", Text, nullable=False),
)

# Durable VIES rechecks: one row per customer whose number still needs an answer (Redis may lose its jobs; the
# database may not). Reports join the customer's current VIES state, so a recheck shows in every report.
vat_checks = Table(
    "vat_checks",
    metadata,
    Column("customer_id", Uuid, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("company_id", String(64), nullable=False),
    Column("vat_number", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("first_attempt_at", TS, nullable=False),
    Column("next_attempt_at", TS, nullable=False),
    Column("last_error", String(64)),
    Index("ix_vat_checks_due", "next_attempt_at"),
)

# VIES answers by number, kept for a TTL. They are public facts about a VAT number, not tenant data, so one
# answer serves every company that has that customer.
vies_results = Table(
    "vies_results",
    metadata,
    Column("vat_number", String(20), primary_key=True),
    Column("valid", Boolean, nullable=False),
    Column("name", Text),
    Column("address", Text),
    Column("checked_at", TS, nullable=False),
)

# A company's settings for its imports: the country of rows that name none (a Swedish bureau's exports often
# have no country column).
companies = Table(
    "companies",
    metadata,
    Column("company_id", String(64), primary_key=True),
    Column("default_country", String(2)),
    Column("updated_at", TS, nullable=False),
)

# The mapping a company used for a layout of headers (their normalised keys, hashed), used again the next time
# that layout arrives without one.
learned_mappings = Table(
    "learned_mappings",
    metadata,
    Column("company_id", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("layout", String(64), primary_key=True),
    Column("mapping", JSON, nullable=False),
    Column("updated_at", TS, nullable=False),
)

# The record a row with no org, own or VAT number created, by a fingerprint of its identifying fields: the next
# import of the same source ("csv", or the system of a saved page) finds it by that (jobs.pipeline.prints).
match_prints = Table(
    "match_prints",
    metadata,
    Column("company_id", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("fingerprint", BigInteger, primary_key=True),
    Column("entity_id", Uuid, nullable=False),
)

# A company's connected CRM. The credential is never stored: only where to read it at run time
# ("env:VAR" or "file:/path"). `cursor` (the source's modified time) advances only when a sync completes.
connections = Table(
    "connections",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("company_id", String(64), nullable=False),
    Column("connector", String(32), nullable=False),
    Column("base_url", Text, nullable=False),
    Column("credential_ref", Text, nullable=False),
    Column("options", JSON, nullable=False),
    Column("every_s", Integer, nullable=False),
    Column("cursor", TS),
    Column("next_sync_at", TS, nullable=False),
    Column("last_sync_at", TS),
    Column("last_status", String(24)),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", TS),
    Column("created_at", TS, nullable=False),
    Index("ix_connections_company", "company_id"),
)

# Which registry record a source record became, and a hash of what it mapped to (unchanged → skipped).
external_refs = Table(
    "external_refs",
    metadata,
    Column("connection_id", Uuid, ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("external_id", String(200), primary_key=True),
    Column("entity_id", Uuid, nullable=False),
    Column("record_hash", String(64), nullable=False),
    Column("updated_at", TS, nullable=False),
    Index("ix_external_refs_entity", "entity_id"),  # "is this registry record already linked?"
)

# A company's API keys: only a hash of each is kept (the key itself is shown once, when it is made).
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("company_id", String(64), nullable=False),
    Column("name", String(100)),
    Column("prefix", String(16), nullable=False),  # the key's first characters, to tell keys apart in a listing
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
    Index("ix_api_keys_company", "company_id"),
)

# Files uploaded to the HTTP API, kept in the database in chunks so that a worker on any machine reads the same
# bytes (no shared disk). `sha256` and `completed_at` are set once the last chunk is in.
uploads = Table(
    "uploads",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("company_id", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64)),
    Column("created_at", TS, nullable=False),
    Column("completed_at", TS),
    Index("ix_uploads_company", "company_id"),
)

upload_chunks = Table(
    "upload_chunks",
    metadata,
    Column("upload_id", Uuid, ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# Signed-in browsers of the web importer: the hash of a random session id (the cookie), the key it was opened
# with (revoking the key ends its sessions), and the session's CSRF token.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("key_id", Uuid, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Index("ix_web_sessions_expires", "expires_at"),
)

PARTY_TABLES = {"customers": customers, "suppliers": suppliers}
