"""Configuration from the environment (prefix ROSTERSYNC_). Secrets are SecretStr and never printed."""

from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator
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
    job_timeout_s: int = 3600
    job_max_tries: int = 5

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
        )
