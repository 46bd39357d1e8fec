"""Configuration from the environment (prefix ROSTERSYNC_). Secrets are SecretStr and never printed."""

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jobs.pipeline.importer import Tuning
from registry.db import async_url

VIES_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROSTERSYNC_", extra="ignore")

    # The embedded default: a SQLite file in the working directory, jobs in-process.
    database_url: SecretStr = SecretStr("sqlite:///rostersync.db")
    database_schema: str | None = None  # Postgres search_path; lets several registries share one database
    redis_url: SecretStr | None = None
    queue_name: str = "rostersync"

    # Where a connection's credential may come from: a variable named ROSTERSYNC_CRED_*, or a file inside this
    # directory (none: no credential files at all). A CRM is reached over https; plain http only on this
    # machine unless allowed here.
    secrets_dir: Path | None = None
    allow_plain_http: bool = False

    vies_url: str = VIES_URL
    vies_enabled: bool = True
    vies_timeout_s: float = 10.0  # one request
    vies_retry_budget_s: float = 20.0  # retries of one number at commit time; then it is pending
    vies_per_state_limit: int = 2
    vies_overall_limit: int = 8
    vies_cooldown_s: float = 300.0  # a member state (or VIES) that keeps failing is left alone this long
    vies_cache_ttl_s: float = 86400.0

    # The importer's own defaults, so the two cannot drift apart.
    writers: int = Tuning.writers
    batches_per_commit: int = Tuning.batches_per_commit
    readers: int = Tuning.readers
    run_lease_s: float = Tuning.lease_s
    db_retry_s: float = Field(default=Tuning.db_retry_s, ge=0)  # 0: a lost connection stops the run at once
    sync_lease_s: float = 60.0  # renewed after every page a CRM sends
    job_timeout_s: int = 3600
    # How often a worker looks for runs and syncs whose worker died (their lease ran out) to queue them again.
    redispatch_every_s: int = Field(default=15, ge=1, le=30)
    # Set (e.g. "90d"): every night the worker drops the stored source values of runs finished that long ago.
    purge_after: str | None = None
    job_max_tries: int = 5

    # The HTTP API (rostersync serve): the largest file an upload may be.
    upload_limit_mb: int = Field(default=200, ge=1)

    @property
    def upload_limit_bytes(self) -> int:
        return self.upload_limit_mb * 1_000_000

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, url: SecretStr) -> SecretStr:
        async_url(url.get_secret_value())  # raises, saying why (never with the URL: it may hold a password)
        return url

    @field_validator("vies_url")
    @classmethod
    def _http_vies_url(cls, url: str) -> str:
        # Anything else fails every request as a transport error, and every check would stay pending.
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r} (the default is {VIES_URL})")
        return url

    def tuning(self) -> Tuning:
        return Tuning(
            writers=self.writers,
            batches_per_commit=self.batches_per_commit,
            readers=self.readers,
            lease_s=self.run_lease_s,
            db_retry_s=self.db_retry_s,
        )
