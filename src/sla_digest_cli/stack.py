"""A deployed stack as the operator commands see it: its resources, and boto3 on your credentials.

The stack's resources are found from its CloudFormation outputs and parameters (``sam deploy``
sets both), so nothing needs copying from the console. AWS failures become one line naming
what was being done and the error code (:func:`aws_call`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sla_digest.exceptions import ConfigError, SlaDigestError

if TYPE_CHECKING:
    from collections.abc import Callable

    from sla_digest.config import Config

__all__ = [
    "OperatorClients",
    "Stack",
    "StackError",
    "aws_call",
    "read_stack_config",
    "resolve_stack",
]

_OUTPUTS = {
    "bucket": "ArchiveBucketName",
    "dispatch_function": "DispatchFunctionName",
    "jobs_queue_url": "JobsQueueUrl",
    "jobs_dlq_url": "JobsDeadLetterQueueUrl",
}


class StackError(SlaDigestError):
    """Raised when the deployed stack cannot be reached or refuses an operator's request."""


# --------------------------------------------------------------------------------------------
# The stack and the clients
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stack:
    """What the operator commands need of a deployed stack, read from CloudFormation."""

    name: str
    bucket: str
    dispatch_function: str
    jobs_queue_url: str
    jobs_dlq_url: str
    config_key: str = "config/accounts.json"
    outputs: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)


class OperatorClients:
    """boto3 clients on the operator's session, each created on first use unless injected.

    CloudFormation and Lambda have no type stubs here, hence ``Any``.
    """

    def __init__(
        self, *, profile: str | None = None, region: str | None = None, **given: Any
    ) -> None:
        self._profile = profile
        self._region = region
        self._given = given
        self._session: Any = None

    def _client(self, name: str) -> Any:
        if name not in self._given:
            try:
                import boto3
                from botocore.exceptions import BotoCoreError

                if self._session is None:
                    self._session = boto3.session.Session(
                        profile_name=self._profile, region_name=self._region
                    )
                self._given[name] = self._session.client(name)
            except BotoCoreError as exc:
                raise ConfigError(f"AWS is not set up here: {exc}") from exc
        return self._given[name]

    @property
    def cloudformation(self) -> Any:
        return self._client("cloudformation")

    @property
    def lambda_(self) -> Any:
        return self._client("lambda")

    @property
    def s3(self) -> Any:
        return self._client("s3")

    @property
    def sqs(self) -> Any:
        return self._client("sqs")

    @property
    def secretsmanager(self) -> Any:
        return self._client("secretsmanager")

    @property
    def sesv2(self) -> Any:
        return self._client("sesv2")


def aws_call[T](what: str, call: Callable[[], T]) -> T:
    """Run one AWS call; its failure becomes one line naming ``what`` and the error code."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
    )

    try:
        return call()
    except NoCredentialsError as exc:
        raise ConfigError(
            f"{what}: no AWS credentials (set AWS_PROFILE or pass --profile, or sign in with "
            "aws sso login / aws configure)"
        ) from exc
    except NoRegionError as exc:
        raise ConfigError(f"{what}: no AWS region (pass --region or set AWS_REGION)") from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "error")
        message = " ".join(str(error.get("Message", "")).split())[:200]
        raise StackError(f"{what}: {code}" + (f" ({message})" if message else "")) from exc
    except BotoCoreError as exc:
        raise StackError(f"{what}: {exc}") from exc


def resolve_stack(name: str, *, clients: OperatorClients) -> Stack:
    """The stack's resources, by its outputs and parameters (``sam deploy`` set both)."""
    from botocore.exceptions import ClientError

    def describe() -> Any:
        try:
            return clients.cloudformation.describe_stacks(StackName=name)
        except ClientError as exc:
            if "does not exist" in str(exc.response.get("Error", {}).get("Message", "")):
                raise ConfigError(
                    f"stack {name!r} not found in this region: check --stack, --region and "
                    "--profile (sam deploy prints the stack name)"
                ) from exc
            raise

    (stack,) = aws_call(f"reading stack {name!r}", describe)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])
    }
    missing = [key for key in _OUTPUTS.values() if not outputs.get(key)]
    if missing:
        raise ConfigError(
            f"stack {name!r} has no output {missing[0]}: is it this application's stack, "
            "deployed from the current template.yaml?"
        )
    values = {attribute: outputs[key] for attribute, key in _OUTPUTS.items()}
    return Stack(
        name=name,
        config_key=parameters.get("ConfigKey") or "config/accounts.json",
        outputs=outputs,
        parameters=parameters,
        **values,
    )


def read_stack_config(stack: Stack, *, clients: OperatorClients) -> Config:
    """The stack's ``accounts.json``, validated as the functions validate it."""
    from sla_digest.aws import read_config

    return read_config(stack.bucket, stack.config_key, s3=clients.s3)
