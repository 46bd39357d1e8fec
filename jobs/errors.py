"""What the application layer refuses, with a message for the person who asked."""

import uuid
from typing import TYPE_CHECKING, Any

# A file that cannot be read as a source (which line, which field, why): raised through the application layer.
from connectors.csv_source import SourceError as SourceError

# A bulk-create request refused as a whole (its `code` is the API's): raised through the application layer.
from registry.bulk import AllOrNothingNotImplemented as AllOrNothingNotImplemented
from registry.bulk import BulkCreateError as BulkCreateError
from registry.bulk import IdempotencyKeyInFlight as IdempotencyKeyInFlight

if TYPE_CHECKING:
    from jobs.records import RunSummary


class RunError(Exception):
    """A run or connection cannot be started, resumed or changed; the message says why and what to do."""


class SyncBusy(RunError):
    """Another process is syncing this connection right now."""


class FamilyBusy(RunError):
    """Another run of the same file (a reimport, or the first run) is being processed: try again later."""


class NotFound(RunError):
    """No such run or connection (within the company asked about: another company's is not found either)."""


class Refused(RunError):
    """A change to a record refused, with the registry API's error (`code`, `message`, `fields`)."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error


class UploadTooLarge(RunError):
    """An uploaded file is over the limit (`Settings.upload_limit_mb`)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is over the upload limit of {limit} bytes ({limit / 1e6:g} MB)")
        self.limit = limit


class DatabaseLost(RunError):
    """The database went away during a run and did not come back within the retry budget. The run stays as it
    stands, its committed batches kept, for a resume; `run` is the run as this process last knew it."""

    def __init__(self, run_id: uuid.UUID, reason: str, budget_s: float, run: "RunSummary | None" = None) -> None:
        super().__init__(
            f"lost the database during run {run_id}: {reason} (retried for {budget_s:g} s); "
            f"continue it with: rostersync resume {run_id}"
        )
        self.run = run


class DatabaseRefused(RunError):
    """The database refused a run's work for a reason retrying cannot cure. The run stands, its committed
    batches kept, for a resume once the cause is put right."""

    def __init__(self, run_id: uuid.UUID, said: str) -> None:
        super().__init__(
            f"the database refused the work of run {run_id}: {said}; once that is put right, "
            f"continue it with: rostersync resume {run_id}"
        )
