"""``sla-digest doctor --aws --stack``: the deployed side, checked with the operator's credentials.

S3 and Secrets Manager are moto's; CloudFormation and SES v2 answers come from botocore's
Stubber (moto lacks SES v2's GetAccount, and its CloudFormation needs packages this project
does not install), so each answer is checked against the real API's shapes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.stub import Stubber

from sla_digest_cli import operate
from sla_digest_cli.cli import main
from sla_digest_cli.doctor_aws import EXPECTED_RESOURCES
from sla_digest_cli.stack import OperatorClients
from tests.fixtures.aws import REGION
from tests.fixtures.chatwoot_front import ChatwootFront

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sla_digest_cli.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[2]
STACK = "sla-digest"
BUCKET = "sla-digest-archive-1a2b3c"
SENDER = "digest@acme.example"
RECIPIENT = "leads@acme.example"


def stack_answer(**parameters: str) -> dict[str, Any]:
    outputs = {
        "ArchiveBucketName": BUCKET,
        "DispatchFunctionName": "sla-digest-DispatchFunction-AbC123",
        "JobsQueueUrl": f"https://sqs.{REGION}.amazonaws.com/123456789012/jobs",
        "JobsDeadLetterQueueUrl": f"https://sqs.{REGION}.amazonaws.com/123456789012/dlq",
    }
    values = {"ConfigKey": "config/accounts.json", "SenderAddress": SENDER, **parameters}
    return {
        "Stacks": [
            {
                "StackName": STACK,
                "CreationTime": datetime(2026, 11, 1, tzinfo=UTC),
                "StackStatus": "CREATE_COMPLETE",
                "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            }
        ]
    }


def resources_answer(*, leave_out: str | None = None, failed: str | None = None) -> Any:
    rows = []
    for name in EXPECTED_RESOURCES:
        if name == leave_out:
            continue
        rows.append(
            {
                "StackName": STACK,
                "LogicalResourceId": name,
                "ResourceType": "AWS::CloudFormation::WaitConditionHandle",
                "Timestamp": datetime(2026, 11, 1, tzinfo=UTC),
                "ResourceStatus": "UPDATE_FAILED" if name == failed else "CREATE_COMPLETE",
            }
        )
    return {"StackResources": rows}


def identity(verified: bool) -> dict[str, Any]:
    return {
        "IdentityType": "EMAIL_ADDRESS",
        "VerifiedForSendingStatus": verified,
        "VerificationStatus": "SUCCESS" if verified else "PENDING",
    }


class Aws:
    """The operator's clients: moto for S3 and Secrets Manager, stubs for the rest."""

    def __init__(self) -> None:
        self.s3 = boto3.client("s3", region_name=REGION)
        self.s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        self.secrets = boto3.client("secretsmanager", region_name=REGION)
        self.cloudformation = boto3.client("cloudformation", region_name=REGION)
        self.sesv2 = boto3.client("sesv2", region_name=REGION)
        self.cfn_stub = Stubber(self.cloudformation)
        self.ses_stub = Stubber(self.sesv2)

    def stack(self, *, parameters: dict[str, str] | None = None, **resources: Any) -> None:
        self.cfn_stub.add_response(
            "describe_stacks", stack_answer(**(parameters or {})), {"StackName": STACK}
        )
        self.cfn_stub.add_response(
            "describe_stack_resources", resources_answer(**resources), {"StackName": STACK}
        )

    def ses(self, *, sender: bool = True, production: bool = True, **recipients: bool) -> None:
        self.ses_stub.add_response(
            "get_email_identity", identity(sender), {"EmailIdentity": SENDER}
        )
        self.ses_stub.add_response(
            "get_account",
            {"SendingEnabled": True, "ProductionAccessEnabled": production},
            {},
        )
        for address, verified in recipients.items():
            self.ses_stub.add_response(
                "get_email_identity", identity(verified), {"EmailIdentity": address}
            )
            if not verified:  # then its domain is asked for
                self.ses_stub.add_client_error(
                    "get_email_identity",
                    service_error_code="NotFoundException",
                    http_status_code=404,
                    expected_params={"EmailIdentity": address.rpartition("@")[2]},
                )

    def clients(self) -> OperatorClients:
        return OperatorClients(
            cloudformation=self.cloudformation,
            s3=self.s3,
            secretsmanager=self.secrets,
            sesv2=self.sesv2,
        )


@pytest.fixture
def deployed(
    aws: None, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Aws, ChatwootFront]]:
    # GIVEN the stack's resources, its accounts.json for the sandbox, the token in its secret
    monkeypatch.delenv("CHATWOOT_API_TOKEN", raising=False)
    with ChatwootFront(sandbox.base_url) as front:
        stack = Aws()
        stack.secrets.create_secret(
            Name="sla-digest/acme",
            SecretString=json.dumps({"api_access_token": sandbox.options.admin_token}),
        )
        monkeypatch.setattr(operate, "clients_for", lambda args: stack.clients())
        with stack.cfn_stub, stack.ses_stub:
            yield stack, front


def accounts_json(front: ChatwootFront, **changes: Any) -> bytes:
    entry = {
        "account_id": 7,
        "name": "Acme Support",
        "base_url": front.base_url,
        "token_secret": "sla-digest/acme",
        "timezone": "Europe/Berlin",
        "recipients": [RECIPIENT],
        **changes,
    }
    return json.dumps({"accounts": [entry]}).encode()


def run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, local: bytes | None
) -> tuple[int, list[str], str]:
    args = ["doctor", "--aws", "--stack", STACK]
    if local is not None:
        (tmp_path / "accounts.json").write_bytes(local)
        args += ["--config", str(tmp_path / "accounts.json")]
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.out + captured.err


def marked(lines: list[str], mark: str) -> list[str]:
    return [line.strip()[2:] for line in lines if line.strip().startswith(mark)]


def test_a_sound_deployment_passes_and_the_token_is_read_from_its_secret_unprinted(
    deployed: tuple[Aws, ChatwootFront],
    sandbox: SandboxServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the same accounts.json locally and in the bucket, a verified sender, production SES
    stack, front = deployed
    config = accounts_json(front)
    stack.s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=config)
    stack.stack()
    stack.ses()

    # WHEN doctor checks with --aws (no CHATWOOT_API_TOKEN in the environment)
    code, lines, printed = run(capsys, tmp_path, config)

    # THEN every check passed, the Chatwoot checks used the secret's token, which is nowhere
    # in the output, and no line says the secret is unused
    assert code == 0, printed
    passed = marked(lines, "✔")
    assert passed[0].startswith(f"stack {STACK}: {len(EXPECTED_RESOURCES)} resources in place")
    assert f"s3://{BUCKET}/config/accounts.json exists and is the same as" in passed[1]
    assert "sender digest@acme.example is verified (identity digest@acme.example)" in passed
    assert "SES production access: digests can reach any recipient" in passed
    assert "token_secret 'sla-digest/acme' is readable and holds a token" in passed
    assert "the token is valid and an administrator's" in passed
    assert sandbox.options.admin_token not in printed
    assert marked(lines, "·") == []


def test_without_a_local_file_the_buckets_accounts_json_is_checked(
    deployed: tuple[Aws, ChatwootFront], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack, front = deployed
    stack.s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=accounts_json(front))
    stack.stack()
    stack.ses()

    code, lines, printed = run(capsys, tmp_path, None)

    assert code == 0, printed
    assert f"configuration s3://{BUCKET}/config/accounts.json" in lines
    assert "account 7 found" in marked(lines, "✔")


def test_a_missing_or_different_config_object_is_named_with_the_upload_command(
    deployed: tuple[Aws, ChatwootFront], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN nothing uploaded yet
    stack, front = deployed
    stack.stack()
    stack.ses()
    code, lines, _ = run(capsys, tmp_path, accounts_json(front))
    assert code == 1
    assert marked(lines, "✖")[0].startswith(
        f"s3://{BUCKET}/config/accounts.json does not exist: upload it (aws s3 cp "
    )

    # WHEN an older version is uploaded, THEN the difference is the failure
    stack.s3.put_object(
        Bucket=BUCKET, Key="config/accounts.json", Body=accounts_json(front, send_hour=6)
    )
    stack.stack()
    stack.ses()
    code, lines, _ = run(capsys, tmp_path, accounts_json(front))
    assert code == 1
    (failure,) = marked(lines, "✖")
    assert "config/accounts.json differs from " in failure


def test_a_missing_resource_and_a_failed_one_are_named(
    deployed: tuple[Aws, ChatwootFront], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack, front = deployed
    stack.s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=accounts_json(front))
    stack.stack(leave_out="HeartbeatAlarm", failed="DigestFunction")
    stack.ses()

    code, lines, _ = run(capsys, tmp_path, None)

    assert code == 1
    assert sorted(marked(lines, "✖")) == [
        f"stack {STACK}: DigestFunction is UPDATE_FAILED: deploy the current template "
        "(make deploy)",
        f"stack {STACK}: HeartbeatAlarm is missing: deploy the current template (make deploy)",
    ]


def test_an_unreadable_secret_fails_and_its_account_is_not_checked_further(
    deployed: tuple[Aws, ChatwootFront], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an account naming a secret that does not exist
    stack, front = deployed
    config = accounts_json(front, token_secret="sla-digest/missing")
    stack.s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=config)
    stack.stack()
    stack.ses()

    code, lines, _ = run(capsys, tmp_path, None)

    assert code == 1
    (failure,) = marked(lines, "✖")
    assert failure.startswith("secret 'sla-digest/missing' cannot be read")
    assert "account 7 found" not in marked(lines, "✔")


def test_a_secret_outside_the_stacks_prefix_is_one_the_function_cannot_read(
    deployed: tuple[Aws, ChatwootFront],
    sandbox: SandboxServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack, front = deployed
    stack.secrets.create_secret(Name="tokens/acme", SecretString=sandbox.options.admin_token)
    config = accounts_json(front, token_secret="tokens/acme")
    stack.s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=config)
    stack.stack(parameters={"TokenSecretPrefix": "sla-digest/"})
    stack.ses()

    code, lines, _ = run(capsys, tmp_path, None)

    assert code == 1
    assert marked(lines, "✖") == [
        "token_secret 'tokens/acme' is outside the stack's TokenSecretPrefix 'sla-digest/': "
        "the digest function may not read it; rename the secret"
    ]


def test_the_ses_sandbox_names_the_recipients_that_would_not_get_mail(
    deployed: tuple[Aws, ChatwootFront], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an SES account still in the sandbox, and a recipient not verified
    stack, front = deployed
    stack.s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=accounts_json(front))
    stack.stack()
    stack.ses(production=False, **{RECIPIENT: False})

    code, lines, _ = run(capsys, tmp_path, None)

    assert code == 1
    assert marked(lines, "✖") == [
        "the SES account is in the sandbox, where only verified addresses receive mail; not "
        f"verified: {RECIPIENT}: verify them or request production access"
    ]


def test_an_unverified_sender_is_named_with_the_command_to_verify_it(
    deployed: tuple[Aws, ChatwootFront], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack, front = deployed
    stack.s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=accounts_json(front))
    stack.stack()
    stack.ses(sender=False)

    code, lines, _ = run(capsys, tmp_path, None)

    assert code == 1
    assert marked(lines, "✖") == [
        f"sender {SENDER} is not verified in SES (identity {SENDER}): verify it "
        f"(aws sesv2 create-email-identity --email-identity {SENDER})"
    ]


def test_aws_without_a_stack_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--aws"]) == 2
    assert "doctor --aws needs --stack NAME" in capsys.readouterr().err


def test_every_resource_doctor_expects_is_declared_in_the_template() -> None:
    # GIVEN template.yaml's logical ids (short tags read as plain data)
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    declared = set(template["Resources"])
    # SAM names the schedule of an event "Schedule" on DispatchFunction this way
    events = template["Resources"]["DispatchFunction"]["Properties"]["Events"]
    declared |= {f"DispatchFunction{name}" for name in events}

    assert set(EXPECTED_RESOURCES) <= declared


CHANNELS = [
    {"type": "email", "recipients": [RECIPIENT]},
    {"type": "slack", "url_secret": "sla-digest/acme/slack"},
    {"type": "webhook", "url_secret": "sla-digest/acme/hook", "signing_secret": "hooks/acme-key"},
]
HOOK = "https://hooks.slack.example/services/T000/B000/abcdefghijkl"


def with_channels(
    stack: Aws, front: ChatwootFront, channels: list[Any], secrets: dict[str, str]
) -> None:
    """The bucket's accounts.json with these channels, the secrets named, a sound stack."""
    for name, value in secrets.items():
        stack.secrets.create_secret(Name=name, SecretString=value)
    config = accounts_json(front, channels=channels)
    stack.s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=config)
    stack.stack()
    stack.ses()


def test_channel_secrets_are_read_and_their_form_checked_never_printed(
    deployed: tuple[Aws, ChatwootFront], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a Slack channel whose secret holds its URL as JSON, and a webhook whose URL
    # secret holds a plain-http address and whose signing key lies outside the prefix
    with_channels(
        *deployed,
        CHANNELS,
        {
            "sla-digest/acme/slack": f'{{"url": "{HOOK}"}}',
            "sla-digest/acme/hook": "http://hooks.acme.example/digest",
            "hooks/acme-key": "k3y-never-printed",
        },
    )

    # WHEN doctor checks the deployment
    code, lines, printed = run(capsys, tmp_path, None)

    # THEN the Slack secret passes, the webhook's URL and key location fail with what to fix,
    # and neither the URLs nor the key appear anywhere
    assert code == 1
    assert (
        "the slack channel of account 7: secret 'sla-digest/acme/slack' is readable and holds "
        "a URL it may post to"
    ) in marked(lines, "✔")
    assert marked(lines, "✖") == [
        "the webhook channel of account 7: the URL in secret 'sla-digest/acme/hook' must use "
        "https (plain http only to localhost)",
        "signing_secret 'hooks/acme-key' is outside the stack's TokenSecretPrefix "
        "'sla-digest/': the digest function may not read it; rename the secret",
    ]
    assert (
        "the webhook channel of account 7: secret 'hooks/acme-key' is readable and holds "
        "a signing key"
    ) in marked(lines, "✔")
    for secret in (HOOK, "hooks.acme.example", "k3y-never-printed"):
        assert secret not in printed


def test_a_channel_secret_that_is_missing_or_empty_is_named(
    deployed: tuple[Aws, ChatwootFront], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a Slack channel whose secret does not exist and a Teams one whose secret is blank
    channels = [
        {"type": "slack", "url_secret": "sla-digest/acme/slack"},
        {"type": "teams", "url_secret": "sla-digest/acme/teams"},
    ]
    with_channels(*deployed, channels, {"sla-digest/acme/teams": " "})

    # WHEN doctor checks the deployment
    code, lines, _ = run(capsys, tmp_path, None)

    # THEN each channel's problem is one line naming its secret
    assert code == 1
    failed = marked(lines, "✖")
    assert len(failed) == 2
    assert failed[0].startswith("secret 'sla-digest/acme/slack' cannot be read (")
    assert failed[1] == (
        'secret \'sla-digest/acme/teams\' holds no URL: store the URL itself or {"url": "..."}'
    )
