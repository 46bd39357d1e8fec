"""What the application layer refuses, with a message for the person who asked."""

# A file that cannot be read as a source (which line, which field, why): raised through the application layer.
from connectors.csv_source import SourceError as SourceError


class RunError(Exception):
    """A run or connection cannot be started, resumed or changed; the message says why and what to do."""


class SyncBusy(RunError):
    """Another process is syncing this connection right now."""


class FamilyBusy(RunError):
    """Another run of the same file (a reimport, or the first run) is being processed: try again later."""


class NotFound(RunError):
    """No such run or connection (within the company asked about: another company's is not found either)."""
