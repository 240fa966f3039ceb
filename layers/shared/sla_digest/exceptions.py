"""The one exception hierarchy of ``sla_digest``.

Every error a caller can act on is a :class:`SlaDigestError`; its message is a single line that
names what to fix and never contains a secret. Whether trying again can help is a type, never a
phrase in the message: :class:`RetryableError` (a later attempt may succeed: a throttled or
unreachable service, the time limit) or :class:`PermanentError` (the same input fails the same
way until a person changes it). :func:`is_retryable` answers for any exception; an error that is
neither counts as retryable, so nothing is dropped on a guess::

    SlaDigestError
    ├── RetryableError               a later attempt may succeed
    │   ├── RetryBudgetExhausted     transient Chatwoot failures (5xx, 429, timeouts, bad
    │   │                            bodies) outlasted the retry budget       (ChatwootError)
    │   ├── DeliveryUnavailable      the channel was throttled or unreachable (DeliveryError)
    │   ├── QueueError               digest jobs could not be queued on SQS
    │   └── DeadlineExceeded         the run stopped early to stay inside its time limit; what
    │                                it archived so far lets the next attempt resume
    ├── PermanentError               only a person can fix it
    │   ├── ConfigError              the configuration (file, flags or event) is invalid
    │   │   └── ConfigMissing        accounts.json does not exist (yet) where it is expected
    │   ├── WindowError              the report day cannot be reported on (not over, bad date)
    │   ├── AuthenticationError      401: bad token, not an administrator's, suspended, bot
    │   ├── NotFoundError            404: unknown account, or Chatwoot without the reporting API
    │   ├── ResponseError            well-formed HTTP that breaks the API's promised shape
    │   ├── VerificationError        archived data disagrees with its manifest or summary
    │   ├── RenderError              the digest templates cannot be found or rendered
    │   ├── TimeLimitTooShort        a report cannot be read within the function's time limit
    │   └── DeliveryRejected         the channel refused the digest itself   (DeliveryError)
    ├── ChatwootError                base of the Chatwoot errors above; ``status`` if any
    ├── ArchiveError                 reading or writing the archive failed (retryable)
    └── DeliveryError                base of the delivery errors above; plain = retryable

The digest function reports every failed record to SQS, so a permanent failure still reaches
the dead-letter queue for a person to redrive once it is fixed; the type decides how it is
logged and counted (``DigestFailures`` and an error line, or ``DigestRetries`` and a warning).
"""

from __future__ import annotations

__all__ = [
    "ArchiveError",
    "AuthenticationError",
    "ChatwootError",
    "ConfigError",
    "ConfigMissing",
    "DeadlineExceeded",
    "DeliveryError",
    "DeliveryRejected",
    "DeliveryUnavailable",
    "NotFoundError",
    "PermanentError",
    "QueueError",
    "RenderError",
    "ResponseError",
    "RetryBudgetExhausted",
    "RetryableError",
    "SlaDigestError",
    "TimeLimitTooShort",
    "VerificationError",
    "WindowError",
    "is_retryable",
]


class SlaDigestError(Exception):
    """Base of every error this package raises on purpose."""


class RetryableError(SlaDigestError):
    """Raised when a later attempt may succeed without anybody changing anything."""


class PermanentError(SlaDigestError):
    """Raised when the same input will fail the same way until a person fixes it."""


def is_retryable(exc: BaseException) -> bool:
    """Whether trying again may help; unmarked errors and bugs count as retryable."""
    return not isinstance(exc, PermanentError)


class ConfigError(PermanentError):
    """Raised when configuration is invalid; the message names the offending key or entry."""


class ConfigMissing(ConfigError):
    """Raised when ``accounts.json`` is not where it is expected: not uploaded yet, or moved."""


class WindowError(PermanentError):
    """Raised when a report day is refused: not over yet in its time zone, or not a date."""


class ChatwootError(SlaDigestError):
    """Raised when Chatwoot cannot give us the data; ``status`` is the HTTP status, if any."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(ChatwootError, PermanentError):
    """Raised on 401: never retried, because only a person can fix a token."""


class NotFoundError(ChatwootError, PermanentError):
    """Raised on 404: the account does not exist or Chatwoot lacks the reporting-events API."""


class RetryBudgetExhausted(ChatwootError, RetryableError):
    """Raised when transient failures continue after the whole retry budget is spent."""


class ResponseError(ChatwootError, PermanentError):
    """Raised when a response is HTTP-valid but breaks the API's documented shape; a body over
    5 MB, or one whose ``total_pages`` does not follow from its ``count``, at once (no retry)."""


class ArchiveError(SlaDigestError):
    """Raised when the archive (local folder or S3) cannot be read or written."""


class VerificationError(ArchiveError, PermanentError):
    """Raised when archived pages or a summary disagree with the manifest; lists each problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems) if problems else "verification failed")
        self.problems = problems


class RenderError(PermanentError):
    """Raised when the digest templates cannot be found or rendered."""


class TimeLimitTooShort(PermanentError):
    """Raised when a week's or month's report would not finish within the invocation's time:
    every attempt would end the same way until the function gets more memory (CPU) or time."""


class DeliveryError(SlaDigestError):
    """Raised when a digest cannot be delivered; the subclasses say whether to try again."""


class DeliveryUnavailable(DeliveryError, RetryableError):
    """Raised when a channel is throttled, unreachable or busy with the same delivery."""


class DeliveryRejected(DeliveryError, PermanentError):
    """Raised when a channel refuses the digest itself (bad address, unverified sender)."""


class QueueError(RetryableError):
    """Raised when SQS refuses digest jobs after retries; names the jobs left unqueued."""


class DeadlineExceeded(RetryableError):
    """Raised when the invocation's remaining time runs short; archived pages let a retry resume."""
