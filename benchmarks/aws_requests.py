"""What one account-day asks of AWS, for the cost model in ``docs/scaling.md`` (for information).

* The AWS requests of one digest job (``process_job``, the Lambda's unit of work) against a
  sandbox day, counted by operation on emulated services (moto, in this process).
* The client-side CPU of one ``PutObject`` of a page (SigV4 signing, SHA-256 checksum, HTTP),
  timed against a local endpoint in another process that accepts every PUT: at 256 MB a Lambda
  function gets a fraction of a vCPU, so per-request CPU, not only latency, sets its duration.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from base64 import b64encode
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sla_digest_cli.demo import fake_aws_environment

from . import ROOT, BenchmarkError, Figure, Profile
from ._sandbox import SandboxProcess
from ._sink import PAGE

if TYPE_CHECKING:
    pass

__all__ = ["count_requests", "measure", "s3_client_cpu_seconds"]

REGION = "us-east-1"
BUCKET = "sla-digest-benchmark"
TABLE = "sla-digest-benchmark-idempotency"
SENDER = "digest@example.com"
SECRET = "sla-digest/benchmark"  # the name of a secret, not its value


def _set_up(session: Any, base_url: str, token: str) -> None:
    s3 = session.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    accounts = {
        "defaults": {"timezone": "UTC", "send_hour": 7, "sla": {"first_response": "30m"}},
        "accounts": [
            {
                "account_id": 7,
                "name": "Benchmark Support",
                "base_url": base_url,
                "token_secret": SECRET,
                "timezone": "Europe/Berlin",
                "recipients": ["leads@example.com"],
            }
        ],
    }
    s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=json.dumps(accounts).encode())
    session.client("secretsmanager").create_secret(Name=SECRET, SecretString=token)
    session.client("ses").verify_email_identity(EmailAddress=SENDER)
    session.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def count_requests(profile: Profile) -> tuple[Counter[str], int]:
    """AWS requests of one digest job by ``service:Operation``, and the pages it fetched."""
    import boto3
    from moto import mock_aws

    from sla_digest.aws import AwsClients, job_services
    from sla_digest.config import Settings
    from sla_digest.jobs.job import DigestJob
    from sla_digest.jobs.run import process_job
    from sla_digest_cli.demo import Invocation

    sandbox = SandboxProcess(events=profile.fetch_events)
    counts: Counter[str] = Counter()

    def count(event_name: str, **kwargs: object) -> None:
        service, operation = event_name.split(".", 2)[1:]
        counts[f"{service}:{operation}"] += 1

    with sandbox as base_url, fake_aws_environment(REGION), mock_aws():
        session = boto3.session.Session(region_name=REGION)
        _set_up(session, base_url, sandbox.token)
        clients = AwsClients(session=boto3.session.Session(region_name=REGION))
        for client in (clients.s3, clients.sesv2, clients.dynamodb, clients.secretsmanager):
            client.meta.events.register("before-call", count)
        window = sandbox.window
        settings = Settings(
            archive_bucket=BUCKET,
            idempotency_table=TABLE,
            sender_address=SENDER,
            templates_dir=ROOT / "templates",
        )
        after = datetime.fromtimestamp(window.until, UTC) + timedelta(hours=6)
        services = replace(job_services(settings, clients), clock=lambda: after)
        job = DigestJob(account_id=7, day=window.day)
        outcome = process_job(job, services, lambda_context=Invocation())
    if outcome.status != "sent" or not outcome.complete:
        raise BenchmarkError(f"the counted digest job ended {outcome.status!r}")
    return counts, outcome.pages


def s3_client_cpu_seconds(body: bytes, calls: int) -> tuple[float, float]:
    """Client CPU seconds of one ``PutObject`` of ``body`` and of one read back through the
    archive (``GetObject`` with its checksum checked), each averaged over ``calls`` calls."""
    import boto3
    from botocore.config import Config

    from sla_digest.archive import S3Archive

    sink = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._sink"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        s3 = boto3.client(
            "s3",
            region_name=REGION,
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="benchmark",
            aws_secret_access_key="benchmark",
            config=Config(s3={"addressing_style": "path"}),
        )
        checksum = b64encode(hashlib.sha256(body).digest()).decode()
        metadata = {"sha256": checksum, "rows": "25", "params": '{"page":1}'}
        keys = [
            f"raw/account_id=7/date=2026-11-20/page-{number:05d}.json" for number in range(calls)
        ]
        started = time.process_time()
        for key in keys:
            s3.put_object(
                Bucket=BUCKET,
                Key=key,
                Body=body,
                ContentType="application/json",
                Metadata=metadata,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
            )
        put = (time.process_time() - started) / calls
        archive = S3Archive(BUCKET, s3=s3)
        started = time.process_time()
        for key in keys:
            archive.get(key)
        get = (time.process_time() - started) / calls
        return put, get
    finally:
        if sink.stdin is not None:
            sink.stdin.close()
        sink.wait(timeout=15)
        if sink.stdout is not None:
            sink.stdout.close()


def measure(profile: Profile) -> list[Figure]:
    counts, pages = count_requests(profile)
    puts = counts.get("s3:PutObject", 0)
    others = ", ".join(
        f"{name} {number}" for name, number in sorted(counts.items()) if name != "s3:PutObject"
    )
    put, get = s3_client_cpu_seconds(PAGE, max(20, min(400, pages)))
    return [
        Figure(
            key="aws_requests_per_day",
            label="AWS requests of one digest job",
            value=sum(counts.values()),
            unit="requests",
            detail=f"{pages} pages: s3:PutObject {puts}; {others}",
        ),
        Figure(
            key="s3_put_cpu_ms",
            label="S3 PutObject client CPU per page",
            value=1000 * put,
            unit="ms",
            detail="boto3 against a local endpoint that accepts every PUT (8 KB body)",
        ),
        Figure(
            key="s3_get_cpu_ms",
            label="S3 GetObject client CPU per page",
            value=1000 * get,
            unit="ms",
            detail="the archive reading a page back (boto3, checksum checked) from the same "
            "endpoint: what a report or a resumed run pays per page besides its own work",
        ),
    ]
