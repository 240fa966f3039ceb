"""Exactly once per account × period × start × channel, whatever SQS and Scheduler repeat.

:class:`ExactlyOnce` wraps any :class:`~.channel.Channel`. The record of a send lives in a
ledger: :class:`IdempotencyLedger` is Powertools Idempotency on the DynamoDB table (the Lambda
path); :class:`NoLedger` simply sends (a local run without a table). The key is the digest's
(:meth:`Delivery.key`) plus the channel's :meth:`identity`, so the email key is unchanged from
the first release and another channel's key differs by its ``channel`` entry: no migration.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from sla_digest.exceptions import DeliveryError, DeliveryUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from sla_digest.delivery.channel import Channel, Delivery, Message, Receipt

__all__ = [
    "IDEMPOTENCY_EXPIRY_SECONDS",
    "IDEMPOTENCY_KEY_PREFIX",
    "DeliveryLedger",
    "ExactlyOnce",
    "IdempotencyLedger",
    "NoLedger",
]

logger = logging.getLogger(__name__)

# Fixed, so the key survives renamed functions and is shared by every deployment of the code.
IDEMPOTENCY_KEY_PREFIX = "sla-digest#delivery"
# Longer than any backfill or SQS retention, so a late duplicate still finds the record.
IDEMPOTENCY_EXPIRY_SECONDS = 35 * 24 * 3600

Outcome = dict[str, Any]


class DeliveryLedger(Protocol):
    """Runs ``send`` unless ``key`` was already sent; returns the outcome of record."""

    def once(
        self, key: Mapping[str, Any], send: Callable[[], Outcome], *, force: bool, where: str
    ) -> tuple[Outcome, bool]:
        """``(outcome, duplicate)``; ``force`` sends again and records that send instead."""
        ...


class NoLedger:
    """No record at all: every call sends (local runs, where a person runs it once)."""

    def once(
        self, key: Mapping[str, Any], send: Callable[[], Outcome], *, force: bool, where: str
    ) -> tuple[Outcome, bool]:
        return send(), False


class IdempotencyLedger:
    """Powertools Idempotency on DynamoDB (partition key ``id``, TTL ``expiration``).

    ``lambda_context`` is the running invocation's: a send that died half-way holds its key
    until that invocation's time would have run out, and then a retry may send.
    """

    def __init__(
        self,
        table: str,
        *,
        dynamodb: DynamoDBClient | None = None,
        lambda_context: LambdaContext | None = None,
    ) -> None:
        self.table = table
        self._dynamodb = dynamodb
        self._lambda_context = lambda_context

    def once(
        self, key: Mapping[str, Any], send: Callable[[], Outcome], *, force: bool, where: str
    ) -> tuple[Outcome, bool]:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            BaseError,
            IdempotencyAlreadyInProgressError,
        )
        from botocore.exceptions import BotoCoreError, ClientError

        sent: list[Outcome] = []

        def deliver(*, job: dict[str, Any]) -> Outcome:
            outcome = send()
            sent.append(outcome)
            return outcome

        def replayed(response: Any, idempotent_data: Any) -> Any:
            return {**response, "duplicate": True} if isinstance(response, dict) else None

        config = IdempotencyConfig(
            expires_after_seconds=IDEMPOTENCY_EXPIRY_SECONDS, response_hook=replayed
        )
        if self._lambda_context is not None:
            config.register_lambda_context(self._lambda_context)
        store = DynamoDBPersistenceLayer(table_name=self.table, boto3_client=self._dynamodb)
        job = dict(key)
        try:
            if force:
                outcome = deliver(job=job)
                store.configure(config=config, key_prefix=IDEMPOTENCY_KEY_PREFIX)
                try:
                    store.save_success(data=job, result=outcome)
                except (BotoCoreError, ClientError) as exc:
                    # The digest is already out: failing now would have the retry send a third.
                    logger.warning(
                        "%s: forced delivery not recorded (%s)", where, type(exc).__name__
                    )
                logger.info("%s: delivered again on purpose (force)", where)
                return outcome, False
            guarded = idempotent_function(
                deliver,
                data_keyword_argument="job",
                persistence_store=store,
                config=config,
                key_prefix=IDEMPOTENCY_KEY_PREFIX,
            )
            outcome = guarded(job=job)
        except IdempotencyAlreadyInProgressError as exc:
            raise DeliveryUnavailable(
                f"{where}: the digest is being sent by another run right now; retryable: "
                "try again in a few minutes"
            ) from exc
        except BaseError as exc:
            if sent:
                # Delivered; only its record could not be completed. Failing now would have the
                # job retried, and once the in-progress lease ran out that retry would deliver
                # a second time.
                logger.warning(
                    "%s: delivered (%s) but its idempotency record could not be completed (%s)",
                    where,
                    sent[0].get("message_id"),
                    type(exc).__name__,
                )
                return sent[0], False
            raise DeliveryUnavailable(
                f"{where}: the idempotency table {self.table!r} could not be used "
                f"({_one_line(exc)}); retryable"
            ) from exc
        duplicate = bool(outcome.get("duplicate")) if isinstance(outcome, dict) else False
        return outcome, duplicate


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


class ExactlyOnce:
    """A channel that delivers each digest once, guarded by ``ledger``."""

    def __init__(self, channel: Channel, ledger: DeliveryLedger) -> None:
        self.channel = channel
        self.ledger = ledger

    @property
    def kind(self) -> str:
        return self.channel.kind

    def identity(self) -> dict[str, Any]:
        return self.channel.identity()

    def deliver(self, message: Message, delivery: Delivery) -> Receipt:
        from sla_digest.delivery.channel import Receipt

        where = delivery.label()
        key = {**delivery.key(), **self.channel.identity()}

        def send() -> Outcome:
            receipt = self.channel.deliver(message, delivery)
            return {"sent": True, "message_id": receipt.message_id, "duplicate": False}

        outcome, duplicate = self.ledger.once(key, send, force=delivery.force, where=where)
        message_id = outcome.get("message_id") if isinstance(outcome, dict) else None
        if not isinstance(message_id, str):
            raise DeliveryError(
                f"{where}: the idempotency record holds no delivery result; delete it to resend"
            )
        if duplicate:
            logger.info("%s: %s already delivered (%s); not again", where, self.kind, message_id)
        return Receipt(
            channel=self.kind, message_id=message_id, sent=not duplicate, duplicate=duplicate
        )
