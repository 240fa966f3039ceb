"""The digest as an email: one MIME message, handed to SES or an outbox folder, exactly once.

SQS and EventBridge Scheduler deliver at least once, so :func:`deliver_once` guards the send with
Powertools Idempotency on DynamoDB, keyed by (account, day, recipients): a repeated job finds the
record of the first send and sends nothing.
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sla_digest.exceptions import DeliveryError
from sla_digest.report.format import clean_text

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_sesv2.client import SESV2Client

    from sla_digest.report.render import Digest

__all__ = [
    "ACCOUNT_HEADER",
    "DATE_HEADER",
    "IDEMPOTENCY_EXPIRY_SECONDS",
    "IDEMPOTENCY_KEY_PREFIX",
    "DeliveryResult",
    "Mailer",
    "OutboxMailer",
    "SesMailer",
    "build_message",
    "deliver_once",
]

logger = logging.getLogger(__name__)

ACCOUNT_HEADER = "X-SLA-Digest-Account"
DATE_HEADER = "X-SLA-Digest-Date"
# Fixed, so the key survives renamed functions and is shared by every deployment of the code.
IDEMPOTENCY_KEY_PREFIX = "sla-digest#delivery"
# Longer than any backfill or SQS retention, so a late duplicate still finds the record.
IDEMPOTENCY_EXPIRY_SECONDS = 35 * 24 * 3600
# A send that died half-way holds the key this long; then a retry may send. One SES call takes
# seconds, so five minutes rules out a second send while the first is still in flight.
IN_PROGRESS_LEASE_MS = 5 * 60 * 1000

_THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException"}
)
_FILE_TOKEN = re.compile(r"[^A-Za-z0-9_.-]+")
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What became of one delivery: ``duplicate`` when an earlier run had already sent it."""

    sent: bool
    message_id: str
    duplicate: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Mailer(Protocol):
    """Hands a finished message to its recipients; returns an id to find it again."""

    def send(self, message: EmailMessage, *, recipients: Sequence[str]) -> str: ...


# ---------------------------------------------------------------------------------------------
# The message
# ---------------------------------------------------------------------------------------------


def _address(raw: str, *, role: str) -> str:
    """An address fit for a header: one line, one ``@``, or a :class:`DeliveryError`."""
    if _LINE_BREAKS.search(raw):
        raise DeliveryError(f"{role} address contains a line break: {clean_text(raw)!r}")
    value = clean_text(raw)
    _, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or " " in address or "@" in local:
        raise DeliveryError(f"{role} {value!r} is not an email address such as leads@example.com")
    return value


def build_message(
    digest: Digest,
    *,
    sender: str,
    recipients: Sequence[str],
    message_id_domain: str | None = None,
) -> EmailMessage:
    """``multipart/mixed``: ``multipart/alternative`` (text, HTML) then the CSV attachment.

    Everything that reaches a header is reduced to one line first, so a name chosen in Chatwoot
    cannot add headers (``Bcc:``) to the message.
    """
    from_address = _address(sender, role="sender")
    to_addresses = [_address(item, role="recipient") for item in recipients]
    if not to_addresses:
        raise DeliveryError("the digest has no recipients: list at least one address")
    domain = clean_text(message_id_domain or parseaddr(from_address)[1].rpartition("@")[2])
    domain = re.sub(r"[^A-Za-z0-9.-]", "", domain) or "sla-digest.invalid"

    message = EmailMessage(policy=SMTP)
    message["Subject"] = clean_text(digest.subject)
    message["From"] = from_address
    message["To"] = ", ".join(to_addresses)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=domain)
    # RFC 3834: out-of-office replies and auto-responders leave automated mail alone.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    if digest.account_id is not None:
        message[ACCOUNT_HEADER] = str(int(digest.account_id))
    if digest.date is not None:
        message[DATE_HEADER] = clean_text(digest.date)
    # Quoted-printable keeps every line 7-bit and short, whatever the names contain.
    message.set_content(digest.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(digest.html, subtype="html", charset="utf-8", cte="quoted-printable")
    message.add_attachment(
        digest.csv,
        maintype="text",
        subtype="csv",
        filename=clean_text(digest.csv_filename) or "sla-digest.csv",
        params={"charset": "utf-8"},
    )
    return message


# ---------------------------------------------------------------------------------------------
# Mailers
# ---------------------------------------------------------------------------------------------


class OutboxMailer:
    """Writes each message to ``<folder>/<account>-<date>-<n>.eml`` instead of sending it."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def send(self, message: EmailMessage, *, recipients: Sequence[str]) -> str:
        account = _FILE_TOKEN.sub("_", str(message.get(ACCOUNT_HEADER, "digest")))
        day = _FILE_TOKEN.sub("_", str(message.get(DATE_HEADER, "undated")))
        data = message.as_bytes()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DeliveryError(
                f"cannot create the outbox folder {self.folder}: {exc.strerror}"
            ) from exc
        for number in itertools.count(1):
            path = self.folder / f"{account}-{day}-{number:03d}.eml"
            try:
                # Exclusive create: two runs never overwrite each other's message.
                with path.open("xb") as handle:
                    handle.write(data)
            except FileExistsError:
                continue
            except OSError as exc:
                raise DeliveryError(f"cannot write the outbox file {path}: {exc.strerror}") from exc
            logger.info("digest written to the outbox for %d recipients", len(recipients))
            return str(path)
        raise AssertionError("unreachable")  # pragma: no cover


class SesMailer:
    """Sends through Amazon SES v2 as a raw MIME message (the only way to attach the CSV)."""

    def __init__(self, *, sesv2: SESV2Client | None = None) -> None:
        self._sesv2 = sesv2

    @property
    def client(self) -> SESV2Client:
        if self._sesv2 is None:
            import boto3

            self._sesv2 = boto3.client("sesv2")
        return self._sesv2

    def send(self, message: EmailMessage, *, recipients: Sequence[str]) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.send_email(
                FromEmailAddress=str(message["From"]),
                Destination={"ToAddresses": list(recipients)},
                Content={"Raw": {"Data": message.as_bytes()}},
            )
        except ClientError as exc:
            raise DeliveryError(_describe_ses_error(exc)) from exc
        except BotoCoreError as exc:
            raise DeliveryError(
                f"SES could not be reached ({type(exc).__name__}); retryable: "
                "the job is tried again"
            ) from exc
        message_id = response["MessageId"]
        logger.info("digest sent through SES to %d recipients", len(recipients))
        return message_id


def _describe_ses_error(exc: Any) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    detail = clean_text(error.get("Message", ""))
    if code in _THROTTLED:
        return f"SES throttled the digest ({code}); retryable: the job is tried again later"
    if code == "MessageRejected":
        return (
            f"SES rejected the digest: {detail}; check that the sender is a verified SES identity "
            "(and, while the account is in the SES sandbox, every recipient too)"
        )
    if code in ("AccountSuspendedException", "SendingPausedException"):
        return f"SES sending is paused for this account ({code}): resume sending in SES first"
    if code in ("AccessDenied", "AccessDeniedException"):
        return "not allowed to send with SES: grant ses:SendRawEmail on the sender identity"
    return f"SES refused the digest ({code}): {detail}"


# ---------------------------------------------------------------------------------------------
# Exactly once
# ---------------------------------------------------------------------------------------------


def _job_key(account_id: int, day: date, recipients: Sequence[str]) -> dict[str, Any]:
    addresses = sorted({parseaddr(clean_text(item))[1].lower() for item in recipients})
    return {"account_id": int(account_id), "date": day.isoformat(), "recipients": addresses}


def _result(data: Any, *, duplicate: bool) -> DeliveryResult:
    if not isinstance(data, dict) or not isinstance(data.get("message_id"), str):
        raise DeliveryError("the idempotency record holds no delivery result; delete it to resend")
    return DeliveryResult(sent=not duplicate, message_id=data["message_id"], duplicate=duplicate)


def deliver_once(
    *,
    message: EmailMessage,
    mailer: Mailer,
    recipients: Sequence[str],
    account_id: int,
    day: date,
    idempotency_table: str | None,
    force: bool = False,
    dynamodb: DynamoDBClient | None = None,
) -> DeliveryResult:
    """Send ``message`` unless this (account, day, recipients) was already sent.

    A repeat returns the first send's message id with ``duplicate=True`` and sends nothing.
    ``force`` sends again on purpose and records that send as the one of record. A failed send
    records nothing, so the retry sends. Without a table (local runs) it simply sends.
    """
    recipients = list(recipients)
    if not recipients:
        raise DeliveryError("the digest has no recipients: list at least one address")

    sent: list[dict[str, Any]] = []

    def send(*, job: dict[str, Any]) -> dict[str, Any]:
        message_id = mailer.send(message, recipients=recipients)
        outcome = {"sent": True, "message_id": message_id, "duplicate": False}
        sent.append(outcome)
        return outcome

    job = _job_key(account_id, day, recipients)
    if idempotency_table is None:
        return _result(send(job=job), duplicate=False)

    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        BaseError,
        IdempotencyAlreadyInProgressError,
    )
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from botocore.exceptions import BotoCoreError, ClientError

    class _Lease(LambdaContext):
        """Stands in for the Lambda context: how long an unfinished send holds the key."""

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return IN_PROGRESS_LEASE_MS

    def replayed(response: Any, idempotent_data: Any) -> Any:
        return (
            {**response, "sent": False, "duplicate": True} if isinstance(response, dict) else None
        )

    config = IdempotencyConfig(
        expires_after_seconds=IDEMPOTENCY_EXPIRY_SECONDS,
        lambda_context=_Lease(),
        response_hook=replayed,
    )
    store = DynamoDBPersistenceLayer(table_name=idempotency_table, boto3_client=dynamodb)
    where = f"account {account_id} {day.isoformat()}"
    try:
        if force:
            outcome = send(job=job)
            store.configure(config=config, key_prefix=IDEMPOTENCY_KEY_PREFIX)
            try:
                store.save_success(data=job, result=outcome)
            except (BotoCoreError, ClientError) as exc:
                # The mail is already out: failing now would make the retry send it a third time.
                logger.warning(
                    "%s: forced digest sent but not recorded (%s)", where, type(exc).__name__
                )
            logger.info("%s: digest re-sent on purpose (force)", where)
            return _result(outcome, duplicate=False)
        guarded = idempotent_function(
            send,
            data_keyword_argument="job",
            persistence_store=store,
            config=config,
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )
        outcome = guarded(job=job)
    except IdempotencyAlreadyInProgressError as exc:
        raise DeliveryError(
            f"{where}: the digest is being sent by another run right now; retryable: "
            "try again in a few minutes"
        ) from exc
    except BaseError as exc:
        if sent:
            # The mail is out; only its record could not be completed. Failing now would have
            # the job retried, and once the in-progress lease ran out that retry would send
            # the digest a second time.
            logger.warning(
                "%s: digest sent (%s) but its idempotency record could not be completed (%s)",
                where,
                sent[0]["message_id"],
                type(exc).__name__,
            )
            return _result(sent[0], duplicate=False)
        raise DeliveryError(
            f"{where}: the idempotency table {idempotency_table!r} could not be used "
            f"({clean_text(exc)}); retryable"
        ) from exc
    duplicate = bool(outcome.get("duplicate")) if isinstance(outcome, dict) else False
    if duplicate:
        logger.info("%s: digest already sent (%s); not sending again", where, outcome["message_id"])
    return _result(outcome, duplicate=duplicate)
