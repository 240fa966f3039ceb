"""The operator commands on a deployed stack: invoke, backfill, redrive and status, under moto.

The stack's resources are moto's (S3, SQS, Secrets Manager); CloudFormation's answer is
botocore's Stubber (moto's CloudFormation needs packages this project does not install), and
Lambda is a stand-in that runs the real dispatch handler the way Lambda would, so an invoke
really ends as jobs on the queue.
"""

from __future__ import annotations

import importlib.util
import io
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.stub import Stubber

from sla_digest.archive import DayArchive, S3Archive
from sla_digest.aws import AwsClients, fingerprint_reader
from sla_digest.config import Settings
from sla_digest.exceptions import AuthenticationError, ConfigError
from sla_digest.jobs.failure import record_failure
from sla_digest_cli import operate
from sla_digest_cli.cli import main
from sla_digest_cli.operate import backfill_events, invoke
from sla_digest_cli.stack import OperatorClients, resolve_stack
from sla_digest_cli.status import stack_status
from tests.fixtures.aws import REGION, set_template_globals

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
STACK = "sla-digest"
BUCKET = "sla-digest-archive-1a2b3c"
DISPATCH = "sla-digest-DispatchFunction-AbC123"
ACCOUNTS = {
    "accounts": [
        {
            "account_id": 7,
            "name": "Acme Support",
            "base_url": "https://chat.acme.example",
            "token_secret": "sla-digest/acme",
            "timezone": "Europe/Berlin",
            "recipients": ["leads@acme.example"],
        },
        {
            "account_id": 8,
            "base_url": "https://chat.globex.example",
            "token_secret": "sla-digest/globex",
            "timezone": "UTC",
            "recipients": ["ops@globex.example"],
            "enabled": False,
        },
    ]
}


class DispatchLambda:
    """Lambda's Invoke for the dispatch function: the real handler, its errors as Lambda
    reports them (``FunctionError`` and an ``errorMessage`` payload)."""

    def __init__(self) -> None:
        path = ROOT / "functions" / "dispatch" / "app.py"
        spec = importlib.util.spec_from_file_location(f"dispatch_{uuid.uuid4().hex}", path)
        assert spec is not None
        assert spec.loader is not None
        self.module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.module)
        self.events: list[Any] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> Any:
        assert FunctionName == DISPATCH
        assert InvocationType == "RequestResponse"
        event = json.loads(Payload)
        self.events.append(event)
        try:
            result = self.module.lambda_handler(event, FakeContext())
        except Exception as exc:
            body = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": _stream(body)}
        return {"StatusCode": 200, "Payload": _stream(result)}


def _stream(document: Any) -> io.BytesIO:
    return io.BytesIO(json.dumps(document).encode())


@dataclass
class FakeContext:
    function_name: str = DISPATCH
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:{DISPATCH}"
    aws_request_id: str = "c0ffee00-0000-4000-8000-000000000000"


@dataclass
class Deployed:
    s3: Any
    sqs: Any
    secrets: Any
    jobs: str
    dlq: str
    clients: OperatorClients
    dispatch: DispatchLambda

    def queued(self, url: str | None = None) -> list[dict[str, Any]]:
        bodies = []
        while messages := self.sqs.receive_message(
            QueueUrl=url or self.jobs, MaxNumberOfMessages=10
        ).get("Messages", []):
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=url or self.jobs, ReceiptHandle=message["ReceiptHandle"]
                )
        return sorted(bodies, key=lambda body: (body["account_id"], body["date"]))


def describe_stacks_answer(jobs: str, dlq: str) -> dict[str, Any]:
    """What CloudFormation answers for the deployed template (outputs and parameters)."""
    outputs = {
        "ArchiveBucketName": BUCKET,
        "DispatchFunctionName": DISPATCH,
        "DigestFunctionName": "sla-digest-DigestFunction-DeF456",
        "JobsQueueUrl": jobs,
        "JobsDeadLetterQueueUrl": dlq,
    }
    return {
        "Stacks": [
            {
                "StackName": STACK,
                "CreationTime": datetime(2026, 11, 1, tzinfo=UTC),
                "StackStatus": "UPDATE_COMPLETE",
                "Parameters": [
                    {"ParameterKey": "ConfigKey", "ParameterValue": "config/accounts.json"},
                    {"ParameterKey": "SenderAddress", "ParameterValue": "digest@acme.example"},
                ],
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            }
        ]
    }


@pytest.fixture
def deployed(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=json.dumps(ACCOUNTS).encode())
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    jobs = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.create_secret(Name="sla-digest/acme", SecretString="a-token")
    set_template_globals(monkeypatch, log_level="WARNING")
    monkeypatch.setenv("ARCHIVE_BUCKET", BUCKET)
    monkeypatch.setenv("JOBS_QUEUE_URL", jobs)
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(cloudformation)
    for _ in range(3):
        stubber.add_response(
            "describe_stacks", describe_stacks_answer(jobs, dlq), {"StackName": STACK}
        )
    dispatch = DispatchLambda()
    clients = OperatorClients(
        cloudformation=cloudformation,
        s3=s3,
        sqs=sqs,
        secretsmanager=secrets,
        **{"lambda": dispatch},
    )
    monkeypatch.setattr(operate, "clients_for", lambda args: clients)
    with stubber:
        yield Deployed(s3, sqs, secrets, jobs, dlq, clients, dispatch)


def out_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The command's own lines (the handler's JSON logs and metrics are on stdout too)."""
    return [line for line in capsys.readouterr().out.splitlines() if not line.startswith("{")]


# --- invoke ---------------------------------------------------------------------------------------


def test_invoke_queues_that_account_day_through_the_dispatch_function(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN the operator invokes account 7's 20 Nov
    code = main(["invoke", "--stack", STACK, "--account-id", "7", "--date", "2026-11-20"])

    # THEN the dispatch function got the documented manual event, the job is on the queue
    # with the documented body, and the command says so
    assert code == 0
    assert deployed.dispatch.events == [{"accounts": [7], "date": "2026-11-20", "force": False}]
    assert deployed.queued() == [{"account_id": 7, "date": "2026-11-20", "force": False}]
    assert out_lines(capsys) == ["queued 1 job(s): 7/2026-11-20"]


def test_invoke_no_deliver_queues_an_archive_only_job(deployed: Deployed) -> None:
    main(["invoke", "--stack", STACK, "--account-id", "7", "--date", "2026-11-20", "--force",
          "--no-deliver"])  # fmt: skip

    assert deployed.queued() == [
        {"account_id": 7, "date": "2026-11-20", "force": True, "deliver": False}
    ]


def test_invoke_defaults_to_yesterday_in_the_accounts_own_time_zone(deployed: Deployed) -> None:
    # GIVEN 20 Nov 23:30 UTC: in Berlin it is already 21 Nov 00:30, so "yesterday" there is
    # 20 Nov (in UTC it would be 19 Nov)
    stack = resolve_stack(STACK, clients=deployed.clients)
    now = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)

    # WHEN account 7 is invoked without a date
    invoke(stack, 7, None, clients=deployed.clients, now=now)

    # THEN Berlin's yesterday is queued
    assert [job["date"] for job in deployed.queued()] == ["2026-11-20"]


def test_invoke_of_a_disabled_account_queues_nothing_and_says_so(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN account 8, disabled in accounts.json
    code = main(["invoke", "--stack", STACK, "--account-id", "8", "--date", "2026-11-20"])

    # THEN nothing is queued, the command says why, and the exit status is 1
    assert code == 1
    assert out_lines(capsys) == [
        "queued 0 job(s): none",
        "skipped 1 account(s) that are disabled (the dispatch log says)",
    ]
    assert deployed.queued() == []


# The refused invocation has no metrics to flush; Powertools warns about that, rightly.
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_invoke_of_a_day_not_over_says_why_in_one_line(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a date in the future
    future = (datetime.now(tz=UTC).date() + timedelta(days=3)).isoformat()

    # WHEN invoked, THEN the function's refusal is the one error line, and nothing is queued
    code = main(["invoke", "--stack", STACK, "--account-id", "7", "--date", future])

    assert code == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("sla-digest: error: the dispatch function refused the request: ")
    assert "has not ended yet" in line
    assert deployed.queued() == []


# --- backfill -------------------------------------------------------------------------------------


def test_a_long_archive_only_backfill_is_split_into_events_the_function_accepts(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN 1 Aug .. 20 Nov: 31 + 30 + 31 + 20 = 112 days, more than one event may hold (92)
    code = main(["backfill", "--stack", STACK, "--from", "2026-08-01", "--to", "2026-11-20",
                 "--account-id", "7", "--archive-only"])  # fmt: skip

    # THEN two events were sent (92 days, then 20) and every day is queued once, archive only
    assert code == 0
    assert [(e["from"], e["to"]) for e in deployed.dispatch.events] == [
        ("2026-08-01", "2026-10-31"),
        ("2026-11-01", "2026-11-20"),
    ]
    lines = out_lines(capsys)
    assert lines[0] == "2026-08-01 .. 2026-10-31:"
    assert lines[1].startswith("queued 92 job(s): 7/2026-08-01 (archive only), ")
    assert lines[2] == "2026-11-01 .. 2026-11-20:"
    assert lines[3].startswith("queued 20 job(s): ")
    jobs = deployed.queued()
    expected = [date(2026, 8, 1) + timedelta(days=n) for n in range(112)]
    assert [job["date"] for job in jobs] == [day.isoformat() for day in expected]
    assert {(job["account_id"], job.get("deliver")) for job in jobs} == {(7, False)}


def test_backfill_events_cover_the_range_exactly_once() -> None:
    events = backfill_events(date(2026, 1, 1), date(2026, 12, 31))

    days = []
    for event in events:
        day = date.fromisoformat(event["from"])
        while day <= date.fromisoformat(event["to"]):
            days.append(day)
            day += timedelta(days=1)
    assert len(days) == len(set(days)) == 365
    assert all(
        (date.fromisoformat(e["to"]) - date.fromisoformat(e["from"])).days < 92 for e in events
    )


def test_a_backfill_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ConfigError, match="--from 2026-11-20 is after --to 2026-11-01"):
        backfill_events(date(2026, 11, 20), date(2026, 11, 1))


# --- redrive --------------------------------------------------------------------------------------


def test_redrive_moves_every_dead_letter_back_to_the_jobs_queue_and_counts_them(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN 12 failed jobs in the dead-letter queue (more than one batch of ten)
    bodies = [
        json.dumps({"account_id": 7, "date": f"2026-11-{day:02d}", "force": False})
        for day in range(1, 13)
    ]
    for body in bodies:
        deployed.sqs.send_message(QueueUrl=deployed.dlq, MessageBody=body)

    # WHEN redriven
    code = main(["redrive", "--stack", STACK])

    # THEN all twelve are on the jobs queue with their bodies unchanged, none is left behind,
    # and the command names how many it moved
    assert code == 0
    assert deployed.queued() == sorted(
        (json.loads(b) for b in bodies), key=lambda body: body["date"]
    )
    assert deployed.queued(deployed.dlq) == []
    (line,) = out_lines(capsys)
    assert line.startswith("moved 12 job(s) from the dead-letter queue to the jobs queue: ")


def test_redrive_of_an_empty_dead_letter_queue_moves_nothing(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["redrive", "--stack", STACK]) == 0
    assert out_lines(capsys) == ["moved 0 job(s) from the dead-letter queue to the jobs queue"]


# --- status ---------------------------------------------------------------------------------------


def archive_day(deployed: Deployed, day: str, *, complete: bool = True) -> None:
    """A summarised day, as the digest function leaves it (manifest and summary)."""
    keys = {
        f"raw/account_id=7/date={day}/manifest.json": {"complete": complete},
        f"summaries/account_id=7/date={day}/summary.json": {"schema_version": 1},
    }
    for key, document in keys.items():
        deployed.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(document).encode())


def test_status_shows_each_accounts_archive_deliveries_failures_and_the_queues(
    deployed: Deployed,
) -> None:
    # GIVEN account 7 with 19 and 20 Nov archived, 19 Nov delivered by email, 20 Nov failed
    # permanently (recorded as the digest function records it), and one job in the DLQ
    archive_day(deployed, "2026-11-19")
    archive_day(deployed, "2026-11-20")
    delivery = {
        "account_id": 7,
        "date": "2026-11-19",
        "channels": [{"channel": "email", "message_id": "m-1"}],
        "recorded_at": "2026-11-20T06:01:12Z",
    }
    deployed.s3.put_object(
        Bucket=BUCKET,
        Key="digests/account_id=7/date=2026-11-19/delivery.json",
        Body=json.dumps(delivery).encode(),
    )
    reader = fingerprint_reader(Settings(archive_bucket=BUCKET), AwsClients())
    record_failure(
        DayArchive(S3Archive(BUCKET, s3=deployed.s3), 7, date(2026, 11, 20)),
        AuthenticationError("Chatwoot rejected the API access token for account 7"),
        reader(("sla-digest/acme",)),
        now=datetime(2026, 11, 21, 6, 2, tzinfo=UTC),
    )
    deployed.sqs.send_message(QueueUrl=deployed.dlq, MessageBody="{}")
    stack = resolve_stack(STACK, clients=deployed.clients)

    # WHEN status is read at 21 Nov 09:00 UTC (Berlin's 20 Nov was due at 06:00 UTC)
    lines = stack_status(stack, clients=deployed.clients, now=datetime(2026, 11, 21, 9, tzinfo=UTC))

    # THEN each account has its block, and the queues close the report
    assert lines == [
        "account 7 (Acme Support): Europe/Berlin, sent at 07:00, enabled",
        "  last archived day  2026-11-20 (complete; 2 days archived)",
        "  last delivery      2026-11-19 at 2026-11-20T06:01:12Z by email",
        "  failure            2026-11-20 AuthenticationError at 2026-11-21T06:02:00Z: Chatwoot "
        "rejected the API access token for account 7 (held back until accounts.json or one "
        "of the account's secrets changes)",
        "  overdue            2026-11-20: not delivered by 2026-11-21T08:00:00Z",
        "account 8: UTC, sent at 07:00, disabled",
        "  last archived day  none",
        "  last delivery      none",
        "  failures           none on record",
        "jobs queue: 0 waiting; dead-letter queue: 1 failed job(s) (after a fix: sla-digest "
        "redrive --stack sla-digest)",
    ]


def test_status_says_when_a_failed_days_secret_was_changed_since(deployed: Deployed) -> None:
    # GIVEN a failure on record, then the token secret rotated
    reader = fingerprint_reader(Settings(archive_bucket=BUCKET), AwsClients())
    record_failure(
        DayArchive(S3Archive(BUCKET, s3=deployed.s3), 7, date(2026, 11, 20)),
        AuthenticationError("bad token"),
        reader(("sla-digest/acme",)),
        now=datetime(2026, 11, 21, 6, 2, tzinfo=UTC),
    )
    deployed.secrets.put_secret_value(SecretId="sla-digest/acme", SecretString="new-token")
    stack = resolve_stack(STACK, clients=deployed.clients)

    # WHEN status is read for account 7
    lines = stack_status(stack, clients=deployed.clients, account_id=7)

    # THEN the failure is shown as changed since, no longer held back
    (failure,) = [line for line in lines if "failure " in line]
    assert "changed since" in failure
    assert "held back" not in failure


def test_status_from_the_command_line_prints_the_report(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["status", "--stack", STACK, "--account-id", "8"])

    assert code == 0
    lines = out_lines(capsys)
    assert lines[0] == "account 8: UTC, sent at 07:00, disabled"
    assert lines[-1] == "jobs queue: 0 waiting; dead-letter queue: 0 failed job(s)"


# --- the stack ------------------------------------------------------------------------------------


def test_an_unknown_stack_is_one_clear_line(aws: None) -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(cloudformation)
    stubber.add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message="Stack with id nope does not exist",
        expected_params={"StackName": "nope"},
    )
    with stubber, pytest.raises(ConfigError, match=r"^stack 'nope' not found in this region"):
        resolve_stack("nope", clients=OperatorClients(cloudformation=cloudformation))


def test_a_stack_of_another_application_is_refused_by_its_outputs(aws: None) -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(cloudformation)
    answer = describe_stacks_answer("https://q/jobs", "https://q/dlq")
    answer["Stacks"][0]["Outputs"] = answer["Stacks"][0]["Outputs"][2:]
    stubber.add_response("describe_stacks", answer, {"StackName": STACK})
    with stubber, pytest.raises(ConfigError, match="has no output ArchiveBucketName"):
        resolve_stack(STACK, clients=OperatorClients(cloudformation=cloudformation))


def test_the_stack_outputs_the_commands_read_are_declared_in_the_template() -> None:
    # GIVEN the outputs the commands resolve a stack by
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    needed = {o["OutputKey"] for o in describe_stacks_answer("", "")["Stacks"][0]["Outputs"]}

    # THEN the template declares each of them, and the ConfigKey parameter
    assert needed <= set(template["Outputs"])
    assert "ConfigKey" in template["Parameters"]
