"""The AWS edge: clients created on first use, the token and config lookups, the job adapters.

Nothing here talks to AWS at import time: a handler builds one :class:`AwsClients` per cold
start, tests pass their own clients (or run under moto). :func:`job_services` composes the
adapters the digest jobs run with (S3 archive, Secrets Manager tokens, SES exactly once), so
the domain code never constructs a client itself.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from sla_digest.exceptions import ConfigError, ConfigMissing

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sqs import SQSClient

    from sla_digest.chatwoot.client import ChatwootClient
    from sla_digest.config import AccountConfig, Config, Settings
    from sla_digest.delivery.channel import Channel
    from sla_digest.jobs.dispatch import DispatchServices
    from sla_digest.jobs.failure import FingerprintOf
    from sla_digest.jobs.job import DigestJob
    from sla_digest.jobs.run import JobServices

__all__ = [
    "TOKEN_MAX_AGE",
    "AwsClients",
    "config_version",
    "digest_services",
    "dispatch_services",
    "fingerprint_reader",
    "job_services",
    "read_channel_secret",
    "read_config",
    "read_secret_text",
    "read_token",
    "secret_version",
]

logger = logging.getLogger(__name__)

TOKEN_MAX_AGE = 300  # seconds a token stays cached: a rotated secret is picked up within 5 min


class AwsClients:
    """The boto3 clients the application uses, each created on first use unless injected.

    The region comes from the environment (``AWS_REGION``, as Lambda sets it, else boto3's own
    resolution), never from code.
    """

    def __init__(
        self,
        *,
        s3: S3Client | None = None,
        sqs: SQSClient | None = None,
        sesv2: SESV2Client | None = None,
        dynamodb: DynamoDBClient | None = None,
        secretsmanager: SecretsManagerClient | None = None,
        session: boto3.session.Session | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._s3 = s3
        self._sqs = sqs
        self._sesv2 = sesv2
        self._dynamodb = dynamodb
        self._secretsmanager = secretsmanager
        self._session = session
        self._environ = environ if environ is not None else os.environ
        self._secrets: SecretsProvider | None = None

    @property
    def session(self) -> boto3.session.Session:
        if self._session is None:
            region = self._environ.get("AWS_REGION") or self._environ.get("AWS_DEFAULT_REGION")
            self._session = boto3.session.Session(region_name=region or None)
        return self._session

    @property
    def s3(self) -> S3Client:
        if self._s3 is None:
            self._s3 = self.session.client("s3")
        return self._s3

    @property
    def sqs(self) -> SQSClient:
        if self._sqs is None:
            self._sqs = self.session.client("sqs")
        return self._sqs

    @property
    def sesv2(self) -> SESV2Client:
        if self._sesv2 is None:
            self._sesv2 = self.session.client("sesv2")
        return self._sesv2

    @property
    def dynamodb(self) -> DynamoDBClient:
        if self._dynamodb is None:
            self._dynamodb = self.session.client("dynamodb")
        return self._dynamodb

    @property
    def secretsmanager(self) -> SecretsManagerClient:
        if self._secretsmanager is None:
            self._secretsmanager = self.session.client("secretsmanager")
        return self._secretsmanager

    @property
    def secrets(self) -> SecretsProvider:
        """A Powertools provider over :attr:`secretsmanager`; its cache lives as long as this."""
        if self._secrets is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            self._secrets = SecretsProvider(boto3_client=self.secretsmanager)
        return self._secrets


def read_secret_text(
    secret_name: str, *, clients: AwsClients, max_age: int = TOKEN_MAX_AGE
) -> str | None:
    """The text kept in ``secret_name`` (cached for ``max_age`` s); ``None`` if not text.

    An unreadable secret is a :class:`ConfigError` that names the secret and the error code,
    never its value.
    """
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        value = clients.secrets.get(secret_name, max_age=max_age)
    except GetParameterError as exc:
        raise ConfigError(
            f"secret {secret_name!r} cannot be read ({_client_error_code(exc)}): check that it "
            "exists and that the function may read it"
        ) from exc
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = None
    return value if isinstance(value, str) else None


def read_token(secret_name: str, *, clients: AwsClients, max_age: int = TOKEN_MAX_AGE) -> str:
    """The Chatwoot ``api_access_token`` kept in ``secret_name`` (cached for ``max_age`` s).

    The secret is the token itself or JSON ``{"api_access_token": "..."}``. Errors name the
    secret and what is wrong with it, never its value.
    """
    value = read_secret_text(secret_name, clients=clients, max_age=max_age)
    token = _token_from_text(value) if value is not None else None
    if not token:
        raise ConfigError(
            f"secret {secret_name!r} holds no token: store the token itself "
            'or {"api_access_token": "..."}'
        )
    return token


def read_channel_secret(secret_name: str, *, clients: AwsClients) -> str:
    """A channel's secret (a hook URL or a signing key) as text; its form is checked later."""
    value = read_secret_text(secret_name, clients=clients)
    if value is None:
        raise ConfigError(f"secret {secret_name!r} is not text: store the URL or key as a string")
    return value


def read_config(bucket: str, key: str, *, s3: S3Client) -> Config:
    """Load and validate ``accounts.json`` from the archive bucket."""
    from sla_digest.config import load_config  # with its schema: on first use, not at cold start

    source = f"s3://{bucket}/{key}"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404"):
            raise ConfigMissing(f"{source} does not exist: upload accounts.json there") from exc
        if code == "NoSuchBucket":
            raise ConfigError(
                f"{source}: the bucket does not exist (check ARCHIVE_BUCKET)"
            ) from exc
        raise ConfigError(f"{source} cannot be read ({code or 'error'})") from exc
    except BotoCoreError as exc:
        raise ConfigError(f"{source} cannot be read ({type(exc).__name__})") from exc
    return load_config(body, source=source)


def config_version(bucket: str, key: str, *, s3: S3Client) -> str:
    """The ETag of ``accounts.json`` (it changes with its content), or why there is none."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "error"))
        return "missing" if code in ("NoSuchKey", "404", "NotFound") else f"unreadable ({code})"
    except BotoCoreError as exc:
        return f"unreadable ({type(exc).__name__})"


def secret_version(secret_name: str, *, secretsmanager: SecretsManagerClient) -> str:
    """The id of the secret's current version (it changes when the value is put), never the value.

    ``"missing"`` when there is no such secret, ``"unreadable (<code>)"`` when it cannot be
    described.
    """
    try:
        described = secretsmanager.describe_secret(SecretId=secret_name)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "error"))
        return "missing" if code == "ResourceNotFoundException" else f"unreadable ({code})"
    except BotoCoreError as exc:
        return f"unreadable ({type(exc).__name__})"
    for version, stages in described.get("VersionIdsToStages", {}).items():
        if "AWSCURRENT" in stages:
            return version
    changed = described.get("LastChangedDate")
    return changed.isoformat() if changed is not None else "unknown"


def fingerprint_reader(settings: Settings, clients: AwsClients) -> FingerprintOf:
    """What a fix of a permanent failure changes: ``accounts.json`` and the account's secrets."""
    from sla_digest.jobs.failure import Fingerprint

    def read(secret_names: Sequence[str]) -> Fingerprint:
        config = config_version(settings.archive_bucket, settings.config_key, s3=clients.s3)
        versions = tuple(
            (name, secret_version(name, secretsmanager=clients.secretsmanager))
            for name in sorted(set(secret_names))
        )
        return Fingerprint(config=config, secrets=versions)

    return read


def job_services(settings: Settings, clients: AwsClients, *, session: Any = None) -> JobServices:
    """The digest jobs' adapters: the S3 archive and config, tokens, the channels behind the ledger.

    Each account's configured channels (email through SES; Slack, Teams and webhooks with their
    URLs and signing keys read from Secrets Manager when they deliver) share the ledger.

    ``session`` is the HTTP session the Chatwoot clients use (tests pass one to a sandbox).
    """
    # Imported here: the dispatch function imports this module and needs none of them.
    from sla_digest.archive.store import S3Archive
    from sla_digest.chatwoot.client import ChatwootClient
    from sla_digest.delivery.configured import channels_for
    from sla_digest.delivery.email import EmailChannel, SesMailer
    from sla_digest.delivery.once import IdempotencyLedger
    from sla_digest.jobs.run import JobServices

    def load() -> Config:
        return read_config(settings.archive_bucket, settings.config_key, s3=clients.s3)

    def connect(account: AccountConfig) -> ChatwootClient:
        token = read_token(account.token_secret, clients=clients)
        return ChatwootClient(account.base_url, token, session=session)

    def channels(
        account: AccountConfig, lambda_context: Any, period: str = "day"
    ) -> Sequence[Channel]:
        def email(recipients: Sequence[str]) -> Channel:
            mailer = SesMailer(sesv2=clients.sesv2)
            return EmailChannel(mailer, sender=settings.sender_address, recipients=recipients)

        ledger = IdempotencyLedger(
            settings.idempotency_table, dynamodb=clients.dynamodb, lambda_context=lambda_context
        )
        # Never empty: an account without ``channels`` has its email channel (config.py).
        return channels_for(
            account.channels,
            account_id=account.account_id,
            read_secret=lambda name: read_channel_secret(name, clients=clients),
            email=email,
            period=period,
            ledger=ledger,
        )

    return JobServices(
        store=S3Archive(settings.archive_bucket, s3=clients.s3),
        load_config=load,
        connect=connect,
        channels=channels,
        templates_dir=settings.templates_dir,
        fingerprint=fingerprint_reader(settings, clients),
    )


def digest_services(clients: AwsClients, environ: Mapping[str, str] = os.environ) -> JobServices:
    """The digest function's adapters from its environment (a missing variable is named)."""
    from sla_digest.config import Settings

    return job_services(Settings.from_env(environ, required=Settings.DIGEST), clients)


def dispatch_services(settings: Settings, clients: AwsClients) -> DispatchServices:
    """Dispatch's adapters: the config and delivery markers in S3, the jobs queue on SQS."""
    from sla_digest.archive.store import S3Archive
    from sla_digest.jobs.dispatch import DispatchServices, queue_jobs

    def queue(jobs: Sequence[DigestJob]) -> int:
        return queue_jobs(jobs, sqs=clients.sqs, queue_url=settings.jobs_queue_url)

    return DispatchServices(
        load_config=lambda: read_config(
            settings.archive_bucket, settings.config_key, s3=clients.s3
        ),
        store=S3Archive(settings.archive_bucket, s3=clients.s3),
        queue=queue,
        fingerprint=fingerprint_reader(settings, clients),
    )


def _token_from_text(text: str) -> str | None:
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            document: Any = json.loads(stripped)
        except json.JSONDecodeError:
            return None
        token = document.get("api_access_token") if isinstance(document, dict) else None
        return token.strip() if isinstance(token, str) and token.strip() else None
    return stripped or None


def _client_error_code(exc: BaseException) -> str:
    # Powertools wraps the boto error in GetParameterError without chaining; the original is the
    # implicit context. Only its error code is shown: the message could echo request details.
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ClientError):
        return str(cause.response.get("Error", {}).get("Code", "ClientError"))
    return type(cause).__name__ if cause is not None else "error"
