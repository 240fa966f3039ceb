"""The one exception hierarchy of ``sla_digest``.

Every error a caller can act on is a :class:`SlaDigestError`; its message is a single line that
names what to fix and never contains a secret::

    SlaDigestError
    ├── ConfigError              the configuration (file, flags or event) is invalid
    ├── WindowError              the report day cannot be reported on (not over yet, bad date)
    ├── ChatwootError            talking to Chatwoot failed
    │   ├── AuthenticationError  401: bad token, not an administrator's token, suspended, bot
    │   ├── NotFoundError        404: unknown account, or Chatwoot without the reporting API
    │   ├── RetryBudgetExhausted transient failures (5xx, 429, timeouts, bad bodies) outlasted
    │   │                        the retry budget
    │   └── ResponseError        an answer that is well-formed HTTP but not what the API promises
    ├── ArchiveError             reading or writing the archive failed
    │   └── VerificationError    archived data does not match its manifest or summary
    ├── RenderError              the digest could not be rendered
    ├── DeliveryError            the digest could not be delivered
    ├── QueueError               digest jobs could not be queued on SQS
    └── DeadlineExceeded         the run stopped early to stay inside its time limit; what it
                                 archived so far lets the next attempt resume
"""

from __future__ import annotations

__all__ = [
    "ArchiveError",
    "AuthenticationError",
    "ChatwootError",
    "ConfigError",
    "DeadlineExceeded",
    "DeliveryError",
    "NotFoundError",
    "QueueError",
    "RenderError",
    "ResponseError",
    "RetryBudgetExhausted",
    "SlaDigestError",
    "VerificationError",
    "WindowError",
]


class SlaDigestError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(SlaDigestError):
    """Raised when configuration is invalid; the message names the offending key or entry."""


class WindowError(SlaDigestError):
    """Raised when a report day is refused: not over yet in its time zone, or not a date."""


class ChatwootError(SlaDigestError):
    """Raised when Chatwoot cannot give us the data; ``status`` is the HTTP status, if any."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(ChatwootError):
    """Raised on 401: never retried, because only a person can fix a token."""


class NotFoundError(ChatwootError):
    """Raised on 404: the account does not exist or Chatwoot lacks the reporting-events API."""


class RetryBudgetExhausted(ChatwootError):
    """Raised when transient failures continue after the whole retry budget is spent."""


class ResponseError(ChatwootError):
    """Raised when a response is HTTP-valid but breaks the API's documented shape; a body over
    5 MB, or one whose ``total_pages`` does not follow from its ``count``, at once (no retry)."""


class ArchiveError(SlaDigestError):
    """Raised when the archive (local folder or S3) cannot be read or written."""


class VerificationError(ArchiveError):
    """Raised when archived pages or a summary disagree with the manifest; lists each problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems) if problems else "verification failed")
        self.problems = problems


class RenderError(SlaDigestError):
    """Raised when the digest templates cannot be found or rendered."""


class DeliveryError(SlaDigestError):
    """Raised when the email cannot be handed to SES or written to the outbox."""


class QueueError(SlaDigestError):
    """Raised when SQS refuses digest jobs after retries; names the jobs left unqueued."""


class DeadlineExceeded(SlaDigestError):
    """Raised when the invocation's remaining time runs short; archived pages let a retry resume."""
