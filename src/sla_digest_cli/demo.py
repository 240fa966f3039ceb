"""``sla-digest demo``: the production path end to end on one machine.

The sandbox server stands in for Chatwoot and moto emulates S3, SQS, DynamoDB, SES and Secrets
Manager in-process, so the demo exercises the same dispatch → queue → digest → SES code as
the Lambda functions, with no AWS account and no network. After the two daily digests it runs
the weekly job of their week: built from the archived days, the others fetched and archived
for it (the sandbox has rows on 19, 20 and 21 November only, so those are quiet days).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from secrets import token_urlsafe
from typing import TYPE_CHECKING, Any

from sla_digest.exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from sla_digest_cli.sandbox.receiver import Receiver

__all__ = ["fake_aws_environment", "run_demo"]

REGION = "eu-west-1"
BUCKET = "sla-digest-demo-archive"
QUEUE = "sla-digest-demo-jobs"
TABLE = "sla-digest-demo-idempotency"
SENDER = "digest@demo.example"
RECIPIENT = "support-leads@demo.example"
SECRET = "sla-digest/demo"  # noqa: S105 - the name of a secret, not its value
HOOK_SECRETS = {kind: f"sla-digest/demo/{kind}" for kind in ("slack", "teams", "webhook")}
SIGNING_SECRET = "sla-digest/demo/webhook-key"  # noqa: S105 - a name, not the key


@dataclass(frozen=True, slots=True)
class DemoResult:
    sent: int
    duplicates_suppressed: int
    verified_days: int
    week: str = ""


@contextmanager
def fake_aws_environment(region: str = REGION) -> Iterator[None]:
    """Credentials and region for the emulated services; the caller's are restored after."""
    values = {
        "AWS_ACCESS_KEY_ID": "emulated",
        "AWS_SECRET_ACCESS_KEY": "emulated",
        "AWS_SESSION_TOKEN": "emulated",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Invocation:
    """An emulated Lambda invocation with the digest function's five minutes ahead of it."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


def _channels() -> list[dict[str, Any]]:
    """Email (daily and weekly), and Slack, Teams and a signed webhook (daily) whose URLs are
    kept in Secrets Manager."""
    return [
        {"type": "email", "recipients": [RECIPIENT]},
        {"type": "slack", "url_secret": HOOK_SECRETS["slack"], "periods": ["daily"]},
        {"type": "teams", "url_secret": HOOK_SECRETS["teams"], "periods": ["daily"]},
        {
            "type": "webhook",
            "url_secret": HOOK_SECRETS["webhook"],
            "signing_secret": SIGNING_SECRET,
            "periods": ["daily"],
        },
    ]


def _accounts(base_url: str, account_id: int, timezone: str) -> dict[str, Any]:
    return {
        "$schema": "./accounts.schema.json",  # as a document kept beside the schema has it
        "defaults": {"timezone": "UTC", "send_hour": 7, "sla": {"reply_time": "1h"}},
        "accounts": [
            {
                "account_id": account_id,
                "name": "Sandbox Support",
                "base_url": base_url,
                "token_secret": SECRET,
                "timezone": timezone,
                "send_hour": 7,
                "recipients": [RECIPIENT],
                "sla_policy": "Standard",
                "sla": {"conversation_resolved": "24h"},
                "digests": ["daily", "weekly"],
                "channels": _channels(),
            }
        ],
    }


def run_demo(out: Path, *, templates_dir: Path, say: Callable[[str], None]) -> int:
    """Run the demo into ``out``; return the process exit status."""
    try:
        from moto import mock_aws
    except ImportError as exc:
        raise ConfigError(
            "the demo emulates AWS with moto, a development dependency: run `make demo` "
            "from a checkout (or pip install moto)"
        ) from exc

    from sla_digest_cli.sandbox.receiver import Receiver
    from sla_digest_cli.sandbox.server import SandboxOptions, SandboxServer

    options = SandboxOptions(events=1200, latency=0.005, shuffle_ties=True, fault_rate=0.05)
    with (
        SandboxServer(options) as server,
        Receiver() as hooks,
        fake_aws_environment(),
        mock_aws(),
    ):
        say(
            f"sandbox Chatwoot on {server.base_url} (account {options.account_id}, "
            f"{options.timezone}), Slack/Teams/webhook receiver on {hooks.base_url}; "
            "AWS services emulated in-process"
        )
        result = _pipeline(server, options, hooks, out=out, templates_dir=templates_dir, say=say)
    say(
        f"demo finished: {result.sent} digest(s) sent, {result.duplicates_suppressed} duplicate "
        f"delivery suppressed, {result.verified_days} archived day(s) verified"
    )
    say(result.week)
    say(f"open {out / 'digest.html'} and {out / 'weekly-digest.html'} (all files under {out})")
    return 0


def _pipeline(
    server: Any,
    options: Any,
    hooks: Receiver,
    *,
    out: Path,
    templates_dir: Path,
    say: Callable[[str], None],
) -> DemoResult:
    import boto3

    from sla_digest.archive import DayArchive, LocalArchive
    from sla_digest.archive.verify import verify_day
    from sla_digest.aws import AwsClients, dispatch_services, job_services
    from sla_digest.config import Settings
    from sla_digest.jobs.dispatch import handle_dispatch_event
    from sla_digest.jobs.job import DigestJob
    from sla_digest.jobs.run import process_job

    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    ses = boto3.client("ses", region_name=REGION)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ses.verify_email_identity(EmailAddress=SENDER)
    secrets.create_secret(
        Name=SECRET, SecretString=json.dumps({"api_access_token": options.admin_token})
    )
    for kind, name in HOOK_SECRETS.items():
        secrets.create_secret(Name=name, SecretString=hooks.url(kind))
    signing_key = token_urlsafe(24)
    secrets.create_secret(Name=SIGNING_SECRET, SecretString=signing_key)
    config = _accounts(server.base_url, options.account_id, options.timezone)
    s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=json.dumps(config).encode())
    settings = Settings(
        archive_bucket=BUCKET,
        config_key="config/accounts.json",
        jobs_queue_url=queue_url,
        idempotency_table=TABLE,
        sender_address=SENDER,
        templates_dir=templates_dir,
    )
    clients = AwsClients(s3=s3, sqs=sqs, dynamodb=dynamodb, secretsmanager=secrets)

    first = options.day - timedelta(days=1)
    event = {
        "accounts": [options.account_id],
        "from": first.isoformat(),
        "to": options.day.isoformat(),
    }
    say(f"dispatch: backfill {first} … {options.day}")
    dispatched = handle_dispatch_event(event, dispatch_services(settings, clients))
    say(f"dispatch: {json.dumps(dispatched)}")

    bodies: list[str] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        messages = batch.get("Messages", [])
        if not messages:
            break
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    # Jobs run oldest first so the second day finds the first one's summary for its trend.
    bodies.sort(key=lambda body: json.loads(body)["date"])
    services = job_services(settings, clients)
    sent = 0
    for body in bodies:
        outcome = process_job(DigestJob.from_body(body), services, lambda_context=Invocation())
        say(f"digest: {json.dumps(outcome.as_dict())}")
        sent += outcome.status == "sent"
    # SQS delivers at least once: the same job again must not send a second email.
    again = process_job(DigestJob.from_body(bodies[-1]), services, lambda_context=Invocation())
    say(f"digest (same job delivered again): {json.dumps(again.as_dict())}")
    week = _weekly(options, services, say=say)

    archive_dir = out / "archive"
    _download(s3, archive_dir)
    _export_emails(out / "outbox")
    _export_channels(hooks, out, signing_key=signing_key, say=say)
    verified = 0
    for day in (first, options.day):
        problems = verify_day(DayArchive(LocalArchive(archive_dir), options.account_id, day))
        for problem in problems:
            say(f"verify: {day}: {problem}")
        verified += not problems
    latest = f"account_id={options.account_id}/date={options.day}"
    for name in ("digest.html", "digest.txt", "breaches.csv"):
        (out / name).write_bytes((archive_dir / "digests" / latest / name).read_bytes())
    summary = (archive_dir / "summaries" / latest / "summary.json").read_bytes()
    (out / "summary.json").write_bytes(summary)
    links = json.loads(summary).get("follow_up", {}).get("links")
    if links:
        say(
            f"links: {links['linked']} conversations over a target linked with "
            f"{links['requests']} of {links['budget']} extra requests"
        )
    return DemoResult(
        sent=sent,
        duplicates_suppressed=int(again.status != "sent"),
        verified_days=verified,
        week=_export_week(week, options.account_id, archive_dir, out, say=say),
    )


def _weekly(options: Any, services: Any, *, say: Callable[[str], None]) -> Any:
    """The weekly job of the days just sent, as the Monday schedule would queue it."""
    from sla_digest.jobs.job import DigestJob
    from sla_digest.jobs.report import process_report_job
    from sla_digest.report.periods import period_of

    week = period_of(options.day, "week")
    job = DigestJob(options.account_id, week.start, period="week")
    say(f"weekly job: {job.to_body()}")
    outcome = process_report_job(job, services, lambda_context=Invocation())
    say(f"weekly digest: {json.dumps(outcome.as_dict())}")
    return week


def _export_week(
    week: Any, account_id: int, archive_dir: Path, out: Path, *, say: Callable[[str], None]
) -> str:
    """Verify the archived weekly report and copy its digest beside the daily one."""
    from sla_digest.archive import LocalArchive
    from sla_digest.archive.report import ReportArchive
    from sla_digest.archive.verify_report import verify_report
    from sla_digest.report.period_view import period_title

    report = ReportArchive(LocalArchive(archive_dir), account_id, week)
    problems = verify_report(report)
    for problem in problems:
        say(f"verify: {week.kind} {week.start}: {problem}")
    folder = archive_dir / report.directory
    for name in ("digest.html", "digest.txt", "summary.json"):
        (out / f"weekly-{name}").write_bytes((folder / name).read_bytes())
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    days = len(summary["source"]["days"])
    state = "verified" if not problems else "NOT verified"
    return (
        f"weekly digest {period_title(week)} sent: built from {days} archived days, report {state}"
    )


def _export_channels(
    hooks: Receiver, out: Path, *, signing_key: str, say: Callable[[str], None]
) -> None:
    """What Slack, Teams and the webhook received, as files and previews; signatures checked."""
    from sla_digest_cli.previews import slack_preview, teams_preview

    folder = out / "channels"
    folder.mkdir(parents=True, exist_ok=True)
    previews = {"slack": slack_preview, "teams": teams_preview}
    for kind in ("slack", "teams", "webhook"):
        received = hooks.received(kind)
        for number, item in enumerate(received, start=1):
            (folder / f"{kind}-{number}.json").write_bytes(item.body)
        note = ""
        if kind == "webhook":
            good = sum(_signed(item.body, item.headers, signing_key) for item in received)
            note = f", {good} with a valid signature"
        if received and kind in previews:
            (folder / f"{kind}.html").write_text(previews[kind](received[-1].json()))
        say(f"{kind}: {len(received)} message(s) received{note}")


def _signed(body: bytes, headers: dict[str, str], key: str) -> bool:
    """Whether ``SLA-Digest-Signature`` is the HMAC a receiver expects (the README's check)."""
    parts = dict(
        item.split("=", 1)
        for item in headers.get("sla-digest-signature", "").split(",")
        if "=" in item
    )
    expected = hmac.new(key.encode(), f"{parts.get('t', '')}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts.get("v1", ""))


def _download(s3: Any, folder: Path) -> None:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            target = folder / item["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())


def _export_emails(folder: Path) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
    from moto.ses.models import ses_backends

    folder.mkdir(parents=True, exist_ok=True)
    backend = ses_backends[DEFAULT_ACCOUNT_ID][REGION]
    for number, message in enumerate(backend.sent_messages, start=1):
        raw = getattr(message, "raw_data", None)
        if raw is not None:
            (folder / f"digest-{number}.eml").write_text(raw, encoding="utf-8")
