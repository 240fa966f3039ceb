"""``doctor --aws --stack NAME``: the deployed side of a set-up, checked with your credentials.

The stack's resources are in place, ``accounts.json`` is in its bucket (and is the file being
checked), each account's token secret is readable by you, holds a token and lies under the
prefix the digest function may read, so do its Slack, Teams and webhook channels' secrets
(each holding a URL the channel may post to, and a webhook its signing key), the sender is a
verified SES identity, and whether the SES account is still in the sandbox (where every
recipient must be verified too). Secret values are read to check them and never printed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sla_digest.exceptions import ConfigError, SlaDigestError
from sla_digest_cli.stack import aws_call, resolve_stack

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from sla_digest.config import ChannelConfig
    from sla_digest_cli.doctor import Report, Target
    from sla_digest_cli.stack import OperatorClients, Stack

__all__ = ["EXPECTED_RESOURCES", "AwsDoctor"]

# Logical ids a complete stack has (DispatchFunctionSchedule is made by SAM from the
# function's Schedule event).
EXPECTED_RESOURCES = (
    "ArchiveBucket",
    "IdempotencyTable",
    "JobsQueue",
    "JobsDeadLetterQueue",
    "DispatchDeadLetterQueue",
    "DispatchFunction",
    "DigestFunction",
    "DispatchFunctionSchedule",
    "AlarmTopic",
    "HeartbeatAlarm",
    "OperationsDashboard",
)
_GOOD_STATES = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE")


class AwsDoctor:
    """The ``--aws`` checks of one doctor run, on one stack."""

    def __init__(self, stack: Stack, clients: OperatorClients, report: Report) -> None:
        self.stack = stack
        self.clients = clients
        self.report = report

    @classmethod
    def open(cls, args: argparse.Namespace, *, report: Report) -> AwsDoctor:
        """Find the stack (``--stack``) and check its resources."""
        from sla_digest_cli import operate

        if not args.stack:
            raise ConfigError("doctor --aws needs --stack NAME (the deployed stack's name)")
        clients = operate.clients_for(args)
        report.heading(f"stack {args.stack}")
        doctor = cls(resolve_stack(args.stack, clients=clients), clients, report)
        doctor.check_resources()
        return doctor

    @property
    def config_uri(self) -> str:
        return f"s3://{self.stack.bucket}/{self.stack.config_key}"

    def check_resources(self) -> None:
        listed = aws_call(
            f"listing the resources of stack {self.stack.name!r}",
            lambda: self.clients.cloudformation.describe_stack_resources(StackName=self.stack.name),
        )
        states = {
            item["LogicalResourceId"]: item["ResourceStatus"]
            for item in listed.get("StackResources", [])
        }
        problems = [
            f"{name} is missing" if name not in states else f"{name} is {states[name]}"
            for name in EXPECTED_RESOURCES
            if states.get(name) not in _GOOD_STATES
        ]
        for problem in problems:
            self.report.failed(
                f"stack {self.stack.name}: {problem}: deploy the current template (make deploy)"
            )
        if not problems:
            self.report.passed(
                f"stack {self.stack.name}: {len(states)} resources in place, the heartbeat "
                "alarm and the dashboard among them"
            )

    def check_config_object(self, local: bytes | None, *, local_name: str | None) -> bytes | None:
        """The bucket's ``accounts.json``; compared with the local file when one is given."""
        from botocore.exceptions import ClientError

        upload = f"aws s3 cp {local_name or 'accounts.json'} {self.config_uri}"

        def read() -> bytes | None:
            try:
                body: bytes = self.clients.s3.get_object(
                    Bucket=self.stack.bucket, Key=self.stack.config_key
                )["Body"].read()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise
            return body

        data = aws_call(f"reading {self.config_uri}", read)
        if data is None:
            self.report.failed(
                f"{self.config_uri} does not exist: upload it ({upload}); until then the "
                "schedule dispatches nothing"
            )
        elif local is None:
            self.report.passed(f"{self.config_uri} exists")
        elif data == local:
            self.report.passed(f"{self.config_uri} exists and is the same as {local_name}")
        else:
            self.report.failed(
                f"{self.config_uri} differs from {local_name}: upload it again ({upload})"
            )
        return data

    def _readable_by_function(self, secret_name: str, what: str) -> None:
        """Fail when ``secret_name`` lies outside the prefix the digest function may read."""
        prefix = self.stack.parameters.get("TokenSecretPrefix", "sla-digest/")
        name = secret_name.split(":secret:", 1)[-1]
        if not name.startswith(prefix):
            self.report.failed(
                f"{what} {secret_name!r} is outside the stack's TokenSecretPrefix "
                f"{prefix!r}: the digest function may not read it; rename the secret"
            )

    def token(self, secret_name: str) -> str | None:
        """The account's token from its secret (checked, never printed); ``None`` if unusable."""
        from sla_digest.aws import AwsClients, read_token

        self._readable_by_function(secret_name, "token_secret")
        try:
            token = read_token(
                secret_name,
                clients=AwsClients(secretsmanager=self.clients.secretsmanager),
                max_age=0,
            )
        except SlaDigestError as exc:
            self.report.failed(str(exc))
            return None
        self.report.passed(f"token_secret {secret_name!r} is readable and holds a token")
        return token

    def check_channels(self, account_id: int, channels: Sequence[ChannelConfig]) -> None:
        """The secrets of each Slack, Teams and webhook channel, read as a delivery reads them."""
        for channel in channels:
            if channel.type == "email":
                continue
            what = f"the {channel.type} channel of account {account_id}"
            self._channel_secret(
                what, channel.url_secret, key="url_secret", field="url", holds="URL"
            )
            if channel.type == "webhook":
                self._channel_secret(
                    what,
                    channel.signing_secret,
                    key="signing_secret",
                    field="signing_secret",
                    holds="signing key",
                )

    def _channel_secret(
        self, what: str, name: str | None, *, key: str, field: str, holds: str
    ) -> None:
        """``key`` names the secret in accounts.json, ``field`` its value in a JSON secret."""
        from sla_digest.aws import AwsClients, read_channel_secret
        from sla_digest.delivery.configured import secret_field
        from sla_digest.delivery.http import check_hook_url

        if not name:
            self.report.failed(f"{what} names no {field} secret: add it to accounts.json")
            return
        self._readable_by_function(name, key)
        try:
            text = read_channel_secret(
                name, clients=AwsClients(secretsmanager=self.clients.secretsmanager)
            )
            value = secret_field(text, name=name, field=field, what=holds)
            if field == "url":
                check_hook_url(value, what=what, where=f"secret {name!r}")
        except SlaDigestError as exc:
            self.report.failed(str(exc))
            return
        kind = "a URL it may post to" if field == "url" else "a signing key"
        self.report.passed(f"{what}: secret {name!r} is readable and holds {kind}")

    def _verified(self, identity: str) -> bool | None:
        """Whether ``identity`` is verified for sending; ``None`` when SES does not know it."""
        from botocore.exceptions import ClientError

        def get() -> Any:
            try:
                return self.clients.sesv2.get_email_identity(EmailIdentity=identity)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                    return None
                raise

        found = aws_call(f"reading the SES identity {identity}", get)
        if found is None:
            return None
        return bool(found.get("VerifiedForSendingStatus")) or (
            found.get("VerificationStatus") == "SUCCESS"
        )

    def _address_verified(self, address: str) -> bool:
        return bool(self._verified(address)) or bool(self._verified(address.rpartition("@")[2]))

    def check_sender(self, targets: Sequence[Target]) -> None:
        """The sender's identity, and whether the SES account may mail the recipients."""
        report = self.report
        sender = self.stack.parameters.get("SenderAddress", "")
        identity = self.stack.parameters.get("SenderIdentity") or sender
        report.heading("email (Amazon SES)")
        if not sender:
            report.failed("the stack has no SenderAddress parameter: deploy the current template")
            return
        if self._verified(identity):
            report.passed(f"sender {sender} is verified (identity {identity})")
        else:
            report.failed(
                f"sender {sender} is not verified in SES (identity {identity}): verify it "
                f"(aws sesv2 create-email-identity --email-identity {identity})"
            )
        account = aws_call("reading the SES account", self.clients.sesv2.get_account)
        if not account.get("SendingEnabled", True):
            report.failed("sending is paused for this SES account: see the SES console")
        if account.get("ProductionAccessEnabled"):
            report.passed("SES production access: digests can reach any recipient")
            return
        recipients = sorted({r for target in targets for r in target.recipients})
        unverified = [r for r in recipients if not self._address_verified(r)]
        if unverified:
            report.failed(
                "the SES account is in the sandbox, where only verified addresses receive "
                f"mail; not verified: {', '.join(unverified)}: verify them or request "
                "production access"
            )
        else:
            report.passed(
                f"the SES account is in the sandbox; all {len(recipients)} recipient(s) are "
                "verified (request production access before adding others)"
            )
