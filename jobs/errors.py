"""What the application layer refuses, with a message for the person who asked."""


class RunError(Exception):
    """A run or connection cannot be started, resumed or changed; the message says why and what to do."""


class NotFound(RunError):
    """No such run or connection (within the company asked about: another company's is not found either)."""
