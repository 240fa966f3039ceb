"""Exactly one email per account and day: the email channel behind the ledger, on moto."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from sla_digest.delivery.channel import Delivery, Message
from sla_digest.delivery.email import EmailChannel, SesMailer
from sla_digest.delivery.once import ExactlyOnce, IdempotencyLedger
from sla_digest.exceptions import DeliveryError, DeliveryRejected, DeliveryUnavailable
from sla_digest.report.render import render_digest
from sla_digest.report.summary import Summary
from tests.fixtures.aws import REGION

if TYPE_CHECKING:
    from collections.abc import Sequence

ROOT = Path(__file__).resolve().parents[2]
TABLE = "sla-digest-idempotency"
SENDER = "digest@acme.example"
RECIPIENTS = ["leads@acme.example", "ops@acme.example"]
DAY = date(2026, 11, 20)
ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture
def clients(aws: None) -> dict[str, Any]:
    """The idempotency table (key ``id``, TTL ``expiration``) and a verified SES sender."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )
    boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
    return {"dynamodb": dynamodb, "sesv2": boto3.client("sesv2", region_name=REGION)}


def sent_messages() -> list[Any]:
    from moto.ses.models import ses_backends

    return list(ses_backends[ACCOUNT][REGION].sent_messages)


def records(dynamodb: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = dynamodb.scan(TableName=TABLE)["Items"]
    return items


class Invocation:
    """The running Lambda invocation, as the ledger sees it: how long it still has."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


@pytest.fixture(scope="module")
def message() -> Message:
    summary = json.loads(
        (ROOT / "tests/fixtures/summaries/acme-2026-11-20.json").read_text(encoding="utf-8")
    )
    digest = render_digest(
        Summary.from_dict(summary),
        templates_dir=ROOT / "templates",
        archive_location="s3://archive/raw/",
    )
    return Message(digest=digest, summary=summary)


def deliver(
    message: Message,
    clients: dict[str, Any],
    *,
    mailer: Any = None,
    sender: str = SENDER,
    recipients: Sequence[str] = RECIPIENTS,
    day: date = DAY,
    force: bool = False,
    table: str = TABLE,
) -> Any:
    """The digest Lambda's email channel: SES behind the idempotency record."""
    email_channel = EmailChannel(
        mailer or SesMailer(sesv2=clients["sesv2"]), sender=sender, recipients=recipients
    )
    ledger = IdempotencyLedger(table, dynamodb=clients["dynamodb"], lambda_context=Invocation())
    once = ExactlyOnce(email_channel, ledger)
    return once.deliver(message, Delivery(account_id=7, start=day, force=force))


class FailingOnce:
    """A mailer whose first send fails the way a throttled SES call does."""

    def __init__(self, inner: SesMailer) -> None:
        self.inner = inner
        self.calls = 0

    def send(self, message: EmailMessage, *, recipients: Sequence[str]) -> str:
        self.calls += 1
        if self.calls == 1:
            raise DeliveryUnavailable("SES throttled the digest (Throttling); retryable")
        return self.inner.send(message, recipients=recipients)


def test_two_deliveries_of_the_same_job_send_one_email(
    message: Message, clients: dict[str, Any]
) -> None:
    # GIVEN the same account-day delivered twice (SQS delivers at least once)
    first = deliver(message, clients)
    second = deliver(message, clients)
    # THEN SES holds exactly one message and the second call reports the first send
    assert len(sent_messages()) == 1
    assert (first.sent, first.duplicate) == (True, False)
    assert (second.sent, second.duplicate) == (False, True)
    assert second.message_id == first.message_id == sent_messages()[0].id


def test_the_one_email_has_sender_recipients_subject_both_parts_and_the_csv(
    message: Message, clients: dict[str, Any]
) -> None:
    # GIVEN one delivery
    deliver(message, clients)
    (sent,) = sent_messages()
    parsed = email.message_from_string(sent.raw_data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    # THEN SES got it from the sender, for both recipients, with the digest's content
    assert sent.source == SENDER
    assert set(RECIPIENTS) <= set(sent.destinations)
    # (strip: a subject that just overflows 78 columns is folded right after "Subject:", and
    # Python's parser keeps the continuation's leading space where mail clients drop it)
    assert str(parsed["Subject"]).strip() == (
        "Acme Support SLA digest 2026-11-20: first response p90 10m 11s, SLA met 94%"
    )
    assert [part.get_content_type() for part in parsed.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/csv",
    ]
    (attachment,) = parsed.iter_attachments()
    assert attachment.get_filename() == "sla-digest-7-2026-11-20.csv"


def test_the_record_uses_the_powertools_key_and_ttl_attributes(
    message: Message, clients: dict[str, Any]
) -> None:
    # GIVEN one delivery
    deliver(message, clients)
    (record,) = records(clients["dynamodb"])
    # THEN it is keyed by "id", expires via "expiration" about 35 days on, and is complete
    assert record["id"]["S"].startswith("sla-digest#delivery#")
    assert record["status"]["S"] == "COMPLETED"
    stored = json.loads(record["data"]["S"])
    assert stored["message_id"] == sent_messages()[0].id
    expires_in_days = (int(record["expiration"]["N"]) - _now()) / 86400
    assert 34 < expires_in_days <= 35


def _now() -> int:
    import time

    return int(time.time())


def test_recipients_in_another_order_are_the_same_job(
    message: Message, clients: dict[str, Any]
) -> None:
    # GIVEN a delivery, then a retry whose recipient list is reordered and differently cased
    deliver(message, clients)
    again = deliver(message, clients, recipients=["OPS@acme.example", "leads@acme.example"])
    # THEN it is recognised as the same job
    assert again.duplicate
    assert len(sent_messages()) == 1


def test_another_day_or_other_recipients_send_their_own_email(
    message: Message, clients: dict[str, Any]
) -> None:
    # GIVEN one delivery
    deliver(message, clients)
    # WHEN the next day, and the same day to a different list, are delivered
    deliver(message, clients, day=date(2026, 11, 21))
    deliver(message, clients, recipients=["leads@acme.example"])
    # THEN each is a job of its own
    assert len(sent_messages()) == 3


def test_force_sends_again_and_later_deliveries_see_the_forced_send(
    message: Message, clients: dict[str, Any]
) -> None:
    # GIVEN a delivered day
    first = deliver(message, clients)
    # WHEN it is forced, then delivered normally again
    forced = deliver(message, clients, force=True)
    later = deliver(message, clients)
    # THEN the force sent a second email, recorded as the send of record
    assert len(sent_messages()) == 2
    assert (forced.sent, forced.duplicate) == (True, False)
    assert forced.message_id != first.message_id
    assert later.duplicate
    assert later.message_id == forced.message_id


def test_a_failed_send_records_nothing_so_the_retry_sends(
    message: Message, clients: dict[str, Any]
) -> None:
    # GIVEN a mailer whose first attempt fails
    mailer = FailingOnce(SesMailer(sesv2=clients["sesv2"]))
    # WHEN the first delivery fails
    with pytest.raises(DeliveryError, match="retryable"):
        deliver(message, clients, mailer=mailer)
    # THEN no record and no email exist
    assert records(clients["dynamodb"]) == []
    assert sent_messages() == []
    # AND the retry sends the one email
    retry = deliver(message, clients, mailer=mailer)
    assert (retry.sent, retry.duplicate) == (True, False)
    assert len(sent_messages()) == 1


def test_an_unverified_sender_fails_clearly_as_permanent_and_records_nothing(
    message: Message, clients: dict[str, Any]
) -> None:
    # GIVEN a sender address SES has not verified
    # WHEN the digest is delivered THEN the error points at SES verification, is typed as
    # needing a person, and nothing is recorded
    with pytest.raises(DeliveryRejected, match="verified SES identity"):
        deliver(message, clients, sender="nobody@elsewhere.example")
    assert records(clients["dynamodb"]) == []


def test_a_delivery_already_in_flight_is_not_sent_twice(
    message: Message, clients: dict[str, Any]
) -> None:
    # GIVEN a mailer that, while sending, sees the same job delivered again (a parallel retry)
    inner_errors: list[DeliveryError] = []

    class Reentrant:
        def send(self, mime: EmailMessage, *, recipients: Sequence[str]) -> str:
            try:
                deliver(message, clients)
            except DeliveryError as exc:
                inner_errors.append(exc)
            return SesMailer(sesv2=clients["sesv2"]).send(mime, recipients=recipients)

    # WHEN the outer delivery runs
    outer = deliver(message, clients, mailer=Reentrant())
    # THEN the inner one was refused as in progress (retryable) and one email left
    assert outer.sent
    assert len(inner_errors) == 1
    assert "being sent by another run" in str(inner_errors[0])
    assert "retryable" in str(inner_errors[0])
    assert len(sent_messages()) == 1


def test_a_missing_table_is_a_delivery_error_and_nothing_is_sent(
    message: Message, clients: dict[str, Any]
) -> None:
    # GIVEN a table name that does not exist
    # WHEN delivering THEN the error names the table and no email left
    with pytest.raises(DeliveryError, match="no-such-table"):
        deliver(message, clients, table="no-such-table")
    assert sent_messages() == []


def test_the_email_key_is_the_one_records_of_earlier_releases_carry(
    message: Message, clients: dict[str, Any]
) -> None:
    # GIVEN the key an earlier release wrote for this account-day and recipients: Powertools'
    # prefix, then the MD5 of the sorted JSON of account, date and lower-cased sorted addresses
    data = {"account_id": 7, "date": "2026-11-20", "recipients": sorted(RECIPIENTS)}
    digest = hashlib.md5(json.dumps(data, sort_keys=True).encode()).hexdigest()
    # WHEN the channel delivers
    deliver(message, clients)
    # THEN its record has exactly that id, so a record of before the channel interface
    # still stops a second email
    (record,) = records(clients["dynamodb"])
    assert record["id"]["S"] == f"sla-digest#delivery#{digest}"


def test_a_record_written_by_an_earlier_release_still_suppresses_the_send(
    message: Message, clients: dict[str, Any]
) -> None:
    # GIVEN a completed record in the old key layout, holding the old result fields
    data = {"account_id": 7, "date": "2026-11-20", "recipients": sorted(RECIPIENTS)}
    digest = hashlib.md5(json.dumps(data, sort_keys=True).encode()).hexdigest()
    clients["dynamodb"].put_item(
        TableName=TABLE,
        Item={
            "id": {"S": f"sla-digest#delivery#{digest}"},
            "status": {"S": "COMPLETED"},
            "expiration": {"N": str(_now() + 86400)},
            "data": {"S": json.dumps({"sent": True, "message_id": "old-1", "duplicate": False})},
        },
    )
    # WHEN the same day is delivered through the channel
    receipt = deliver(message, clients)
    # THEN nothing is sent and the old send is reported
    assert sent_messages() == []
    assert (receipt.duplicate, receipt.message_id, receipt.channel) == (True, "old-1", "email")
