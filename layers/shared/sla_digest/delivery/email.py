"""The digest as an email: one MIME message, handed to SES or an outbox folder.

:class:`EmailChannel` is the email :class:`~.channel.Channel`; a :class:`Mailer` decides where
the message goes (:class:`SesMailer` in AWS, :class:`OutboxMailer` locally). Exactly-once is
the job of :class:`~.once.ExactlyOnce`, which wraps the channel.
"""

from __future__ import annotations

import itertools
import logging
import re
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sla_digest.delivery.channel import Receipt
from sla_digest.exceptions import (
    ConfigError,
    DeliveryError,
    DeliveryRejected,
    DeliveryUnavailable,
)
from sla_digest.report.format import clean_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_sesv2.client import SESV2Client

    from sla_digest.delivery.channel import Delivery, Message
    from sla_digest.report.render import Digest

__all__ = [
    "ACCOUNT_HEADER",
    "DATE_HEADER",
    "EmailChannel",
    "Mailer",
    "OutboxMailer",
    "SesMailer",
    "build_message",
]

logger = logging.getLogger(__name__)

ACCOUNT_HEADER = "X-SLA-Digest-Account"
DATE_HEADER = "X-SLA-Digest-Date"

_THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException"}
)
_FILE_TOKEN = re.compile(r"[^A-Za-z0-9_.-]+")
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]")


class Mailer(Protocol):
    """Hands a finished message to its recipients; returns an id to find it again."""

    def send(self, message: EmailMessage, *, recipients: Sequence[str]) -> str: ...


# ---------------------------------------------------------------------------------------------
# The message
# ---------------------------------------------------------------------------------------------


def _address(raw: str, *, role: str) -> str:
    """An address fit for a header: one line, one ``@``, or a :class:`DeliveryError`."""
    if _LINE_BREAKS.search(raw):
        raise DeliveryRejected(f"{role} address contains a line break: {clean_text(raw)!r}")
    value = clean_text(raw)
    _, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or " " in address or "@" in local:
        raise DeliveryRejected(
            f"{role} {value!r} is not an email address such as leads@example.com"
        )
    return value


def build_message(
    digest: Digest,
    *,
    sender: str,
    recipients: Sequence[str],
    message_id_domain: str | None = None,
) -> EmailMessage:
    """``multipart/mixed``: ``multipart/alternative`` (text, HTML) then the CSV attachments
    (the digest's table, then any further ones such as ``breaches.csv``).

    Everything that reaches a header is reduced to one line first, so a name chosen in Chatwoot
    cannot add headers (``Bcc:``) to the message.
    """
    from_address = _address(sender, role="sender")
    to_addresses = [_address(item, role="recipient") for item in recipients]
    if not to_addresses:
        raise DeliveryRejected("the digest has no recipients: list at least one address")
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
    for attachment in digest.attachments:
        message.add_attachment(
            attachment.data,
            maintype="text",
            subtype="csv",
            filename=clean_text(attachment.filename) or "attachment.csv",
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
            raise _ses_error(exc) from exc
        except BotoCoreError as exc:
            raise DeliveryUnavailable(
                f"SES could not be reached ({type(exc).__name__}); retryable: "
                "the job is tried again"
            ) from exc
        message_id = response["MessageId"]
        logger.info("digest sent through SES to %d recipients", len(recipients))
        return message_id


def _ses_error(exc: Any) -> DeliveryError:
    """SES's refusal as one line, typed by whether a retry can help."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    detail = clean_text(error.get("Message", ""))
    if code in _THROTTLED:
        return DeliveryUnavailable(
            f"SES throttled the digest ({code}); retryable: the job is tried again later"
        )
    if code == "MessageRejected":
        return DeliveryRejected(
            f"SES rejected the digest: {detail}; check that the sender is a verified SES identity "
            "(and, while the account is in the SES sandbox, every recipient too)"
        )
    if code in ("AccountSuspendedException", "SendingPausedException"):
        return DeliveryRejected(
            f"SES sending is paused for this account ({code}): resume sending in SES first"
        )
    if code in ("AccessDenied", "AccessDeniedException"):
        return DeliveryRejected(
            "not allowed to send with SES: grant ses:SendRawEmail on the sender identity"
        )
    return DeliveryError(f"SES refused the digest ({code}): {detail}")


# ---------------------------------------------------------------------------------------------
# The channel
# ---------------------------------------------------------------------------------------------


class EmailChannel:
    """The digest as one MIME message to the account's recipients, through a :class:`Mailer`."""

    kind = "email"

    def __init__(self, mailer: Mailer, *, sender: str | None, recipients: Sequence[str]) -> None:
        self.mailer = mailer
        self.sender = sender
        self.recipients = list(recipients)

    def identity(self) -> dict[str, Any]:
        """The recipients, as addresses: the same list in another order is the same delivery."""
        addresses = sorted({parseaddr(clean_text(item))[1].lower() for item in self.recipients})
        return {"recipients": addresses}

    def deliver(self, message: Message, delivery: Delivery) -> Receipt:
        if not self.sender:
            raise ConfigError("a sender address is needed to send the digest (SENDER_ADDRESS)")
        if not self.recipients:
            raise ConfigError(
                f"account {delivery.account_id} has no recipients to send the digest to"
            )
        mime = build_message(message.digest, sender=self.sender, recipients=self.recipients)
        message_id = self.mailer.send(mime, recipients=self.recipients)
        return Receipt(channel=self.kind, message_id=message_id)
