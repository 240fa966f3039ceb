"""The email message, the outbox, SES errors and the email channel, without any AWS service."""

from __future__ import annotations

import email
import email.policy
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from sla_digest.delivery.channel import Delivery, Message
from sla_digest.delivery.email import EmailChannel, OutboxMailer, SesMailer, build_message
from sla_digest.delivery.once import ExactlyOnce, NoLedger
from sla_digest.exceptions import (
    ConfigError,
    DeliveryError,
    DeliveryRejected,
    DeliveryUnavailable,
    is_retryable,
)
from sla_digest.report.render import Digest

if TYPE_CHECKING:
    from collections.abc import Sequence

SENDER = "SLA Digest <digest@acme.example>"
RECIPIENTS = ["leads@acme.example", "ops@acme.example"]
CSV = "\ufeffscope,id,name\r\ninbox,1,Website chat\r\n".encode()


def digest(subject: str = "Acme Support SLA digest 2026-11-20: p90 4m 12s") -> Digest:
    return Digest(
        subject=subject,
        html="<!DOCTYPE html><html><body><p>Tiles ▲ 12%</p></body></html>",
        text="Acme Support · daily SLA digest\n▲ 12% slower than 2026-11-19\n",
        csv=CSV,
        csv_filename="sla-digest-7-2026-11-20.csv",
        account_id=7,
        date="2026-11-20",
    )


def reparse(message: EmailMessage) -> EmailMessage:
    """The message as a receiving server sees it: bytes on the wire, parsed again."""
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list[tuple[EmailMessage, list[str]]] = []

    def send(self, message: EmailMessage, *, recipients: Sequence[str]) -> str:
        self.sent.append((message, list(recipients)))
        return f"local-{len(self.sent)}"


class FakeSes:
    """Stands in for the sesv2 client: raises the given error or returns a message id."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def send_email(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return {"MessageId": "ses-0001"}


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "SendEmail")


# ----- the message ---------------------------------------------------------------------------


def test_message_is_mixed_with_alternative_text_and_html_then_the_csv() -> None:
    # GIVEN a digest WHEN it becomes a message and crosses the wire
    message = reparse(build_message(digest(), sender=SENDER, recipients=RECIPIENTS))
    # THEN the structure is mixed > alternative (plain, html) + csv attachment
    assert [part.get_content_type() for part in message.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/csv",
    ]


def test_message_parts_carry_the_digest_unchanged() -> None:
    # GIVEN a digest with non-ASCII text
    message = reparse(build_message(digest(), sender=SENDER, recipients=RECIPIENTS))
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    attachment = next(iter(message.iter_attachments()))
    # THEN each part decodes to what was rendered (lines end in CRLF on the wire, as MIME wants)
    assert plain is not None
    assert html is not None
    assert (
        plain.get_content().replace("\r\n", "\n")
        == "Acme Support · daily SLA digest\n▲ 12% slower than 2026-11-19\n"
    )
    assert "<p>Tiles ▲ 12%</p>" in html.get_content()
    assert attachment.get_filename() == "sla-digest-7-2026-11-20.csv"
    assert attachment.get_payload(decode=True) == CSV


def test_message_headers_name_sender_recipients_and_subject() -> None:
    # GIVEN a sender with a display name and two recipients
    message = reparse(build_message(digest(), sender=SENDER, recipients=RECIPIENTS))
    # THEN the headers say who, to whom and what
    assert str(message["From"]) == SENDER
    assert str(message["To"]) == "leads@acme.example, ops@acme.example"
    assert str(message["Subject"]) == "Acme Support SLA digest 2026-11-20: p90 4m 12s"
    assert str(message["Auto-Submitted"]) == "auto-generated"
    assert str(message["Message-ID"]).endswith("@acme.example>")


def test_message_id_domain_can_be_chosen() -> None:
    # GIVEN an explicit domain for Message-ID
    message = build_message(
        digest(), sender=SENDER, recipients=RECIPIENTS, message_id_domain="mail.acme.example"
    )
    # THEN the id uses it
    assert str(message["Message-ID"]).endswith("@mail.acme.example>")


def test_every_wire_line_is_short_and_seven_bit() -> None:
    # GIVEN a digest with arrows, middots and a long subject
    raw = build_message(digest("Ü" * 200), sender=SENDER, recipients=RECIPIENTS).as_bytes()
    # THEN the bytes are ASCII with CRLF lines no longer than RFC 5322 allows
    assert raw.isascii()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_line_breaks_in_the_subject_cannot_add_headers() -> None:
    # GIVEN a subject that tries to inject a Bcc header
    hostile = digest("Evil\r\nBcc: victim@example.com\r\nX-Injected: yes")
    message = reparse(build_message(hostile, sender=SENDER, recipients=RECIPIENTS))
    # THEN no such headers exist and the subject is one line
    assert message["Bcc"] is None
    assert message["X-Injected"] is None
    assert str(message["Subject"]) == "Evil Bcc: victim@example.com X-Injected: yes"


@pytest.mark.parametrize(
    "address",
    [
        "leads@acme.example\r\nBcc: victim@example.com",
        "leads@acme.example\nCc: victim@example.com",
    ],
)
def test_addresses_with_line_breaks_are_refused(address: str) -> None:
    # GIVEN a recipient with an embedded line break
    # THEN building the message fails with a one-line error
    with pytest.raises(DeliveryError, match="line break") as caught:
        build_message(digest(), sender=SENDER, recipients=[address])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("address", ["not-an-address", "@acme.example", "a@", "a b@c.example"])
def test_malformed_recipients_are_refused_by_name(address: str) -> None:
    # GIVEN something that is not an email address
    # THEN the error quotes it
    with pytest.raises(DeliveryError, match="is not an email address"):
        build_message(digest(), sender=SENDER, recipients=[address])


def test_a_message_needs_at_least_one_recipient() -> None:
    # GIVEN no recipients THEN the error says so
    with pytest.raises(DeliveryError, match="no recipients"):
        build_message(digest(), sender=SENDER, recipients=[])


# ----- the outbox ----------------------------------------------------------------------------


def test_outbox_writes_a_readable_eml_named_after_account_and_day(tmp_path: Path) -> None:
    # GIVEN an outbox folder that does not exist yet
    mailer = OutboxMailer(tmp_path / "outbox")
    message = build_message(digest(), sender=SENDER, recipients=RECIPIENTS)
    # WHEN the message is "sent"
    path = Path(mailer.send(message, recipients=RECIPIENTS))
    # THEN it is a .eml for account 7 and the day, which parses back to the same subject
    assert path == tmp_path / "outbox" / "7-2026-11-20-001.eml"
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert str(parsed["Subject"]) == "Acme Support SLA digest 2026-11-20: p90 4m 12s"


def test_outbox_never_overwrites_an_earlier_message(tmp_path: Path) -> None:
    # GIVEN one message already in the outbox
    mailer = OutboxMailer(tmp_path)
    message = build_message(digest(), sender=SENDER, recipients=RECIPIENTS)
    first = mailer.send(message, recipients=RECIPIENTS)
    # WHEN the same day is sent again
    second = mailer.send(message, recipients=RECIPIENTS)
    # THEN both files exist
    assert Path(first).name == "7-2026-11-20-001.eml"
    assert Path(second).name == "7-2026-11-20-002.eml"


def test_outbox_that_cannot_be_created_is_a_delivery_error(tmp_path: Path) -> None:
    # GIVEN a file where the outbox folder should be
    blocker = tmp_path / "outbox"
    blocker.write_text("not a folder")
    message = build_message(digest(), sender=SENDER, recipients=RECIPIENTS)
    # THEN sending names the folder
    with pytest.raises(DeliveryError, match="outbox"):
        OutboxMailer(blocker).send(message, recipients=RECIPIENTS)


# ----- SES errors ----------------------------------------------------------------------------


def test_ses_gets_the_raw_message_and_the_recipients() -> None:
    # GIVEN a fake SES client
    ses = FakeSes()
    message = build_message(digest(), sender=SENDER, recipients=RECIPIENTS)
    # WHEN the message is sent
    message_id = SesMailer(sesv2=ses).send(message, recipients=RECIPIENTS)  # type: ignore[arg-type]
    # THEN SES got the MIME bytes, the sender and the envelope recipients
    assert message_id == "ses-0001"
    (call,) = ses.calls
    assert call["FromEmailAddress"] == SENDER
    assert call["Destination"] == {"ToAddresses": RECIPIENTS}
    assert call["Content"]["Raw"]["Data"] == message.as_bytes()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (client_error("TooManyRequestsException", "Rate exceeded"), "retryable"),
        (client_error("Throttling", "Maximum sending rate exceeded."), "retryable"),
        (
            client_error("MessageRejected", "Email address is not verified.\nfoo"),
            "verified SES identity",
        ),
        (client_error("AccountSuspendedException", "suspended"), "paused"),
        (client_error("AccessDeniedException", "denied"), "ses:SendRawEmail"),
        (
            EndpointConnectionError(endpoint_url="https://email.eu-west-1.amazonaws.com"),
            "retryable",
        ),
    ],
)
def test_ses_failures_become_one_line_delivery_errors(error: Exception, expected: str) -> None:
    # GIVEN SES failing in a known way
    message = build_message(digest(), sender=SENDER, recipients=RECIPIENTS)
    mailer = SesMailer(sesv2=FakeSes(error))  # type: ignore[arg-type]
    # WHEN sending THEN the error is a single line that says what to do
    with pytest.raises(DeliveryError, match=expected) as caught:
        mailer.send(message, recipients=RECIPIENTS)
    assert "\n" not in str(caught.value)
    assert caught.value.__cause__ is error


def test_a_permanent_ses_failure_is_not_called_retryable() -> None:
    # GIVEN an unverified sender THEN the message does not promise a retry
    message = build_message(digest(), sender=SENDER, recipients=RECIPIENTS)
    mailer = SesMailer(sesv2=FakeSes(client_error("MessageRejected", "not verified")))  # type: ignore[arg-type]
    with pytest.raises(DeliveryError) as caught:
        mailer.send(message, recipients=RECIPIENTS)
    assert "retryable" not in str(caught.value)


# ----- the email channel (local runs: no ledger) ----------------------------------------------


def channel_message() -> Message:
    return Message(digest=digest(), summary={})


def test_without_a_ledger_every_delivery_sends() -> None:
    # GIVEN a local run: the email channel behind no record at all
    mailer = RecordingMailer()
    channel = ExactlyOnce(EmailChannel(mailer, sender=SENDER, recipients=RECIPIENTS), NoLedger())
    delivery = Delivery(account_id=7, start=date(2026, 11, 20))
    # WHEN delivered twice
    first = channel.deliver(channel_message(), delivery)
    second = channel.deliver(channel_message(), delivery)
    # THEN both sent: only a ledger can know about earlier runs
    assert len(mailer.sent) == 2
    assert (first.sent, first.duplicate, first.message_id) == (True, False, "local-1")
    assert (second.sent, second.duplicate, second.message_id) == (True, False, "local-2")
    assert first.channel == "email"


def test_the_channel_sends_the_digest_as_one_message_to_its_recipients() -> None:
    # GIVEN the email channel
    mailer = RecordingMailer()
    channel = EmailChannel(mailer, sender=SENDER, recipients=RECIPIENTS)
    # WHEN it delivers a digest
    receipt = channel.deliver(channel_message(), Delivery(account_id=7, start=date(2026, 11, 20)))
    # THEN the mailer got one message for exactly those recipients, with the digest's subject
    ((sent, to),) = mailer.sent
    assert to == RECIPIENTS
    assert sent["Subject"] == digest().subject
    assert receipt.message_id == "local-1"


def test_the_channel_identity_is_the_recipients_in_any_order_or_case() -> None:
    # GIVEN the same recipients listed two ways
    one = EmailChannel(RecordingMailer(), sender=SENDER, recipients=RECIPIENTS)
    other = EmailChannel(
        RecordingMailer(), sender=SENDER, recipients=["OPS@acme.example", "Leads@Acme.example"]
    )
    # THEN they are the same delivery, named by their addresses alone
    assert one.identity() == other.identity() == {"recipients": sorted(RECIPIENTS)}


def test_delivery_needs_recipients() -> None:
    # GIVEN no recipients THEN nothing is sent and the error says why, as a config problem
    mailer = RecordingMailer()
    channel = EmailChannel(mailer, sender=SENDER, recipients=[])
    with pytest.raises(ConfigError, match="no recipients"):
        channel.deliver(channel_message(), Delivery(account_id=7, start=date(2026, 11, 20)))
    assert mailer.sent == []


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("Throttling", DeliveryUnavailable),
        ("MessageRejected", DeliveryRejected),
        ("AccessDenied", DeliveryRejected),
        ("SendingPausedException", DeliveryRejected),
    ],
)
def test_whether_an_ses_failure_is_retried_is_its_type(code: str, kind: type) -> None:
    # GIVEN SES failing with a known code
    message = build_message(digest(), sender=SENDER, recipients=RECIPIENTS)
    mailer = SesMailer(sesv2=FakeSes(client_error(code, "refused")))  # type: ignore[arg-type]
    # WHEN sending THEN the error's type says whether a retry can help
    with pytest.raises(kind) as caught:
        mailer.send(message, recipients=RECIPIENTS)
    assert is_retryable(caught.value) is (kind is DeliveryUnavailable)
