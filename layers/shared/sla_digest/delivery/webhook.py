"""The digest as a signed webhook: the summary document, POSTed as JSON.

Two headers let a receiver trust and de-duplicate what it gets:

- ``SLA-Digest-Delivery``: the same for every attempt of one account × period × start ×
  channel (:func:`~.hook.delivery_id`), so a repeat can be dropped;
- ``SLA-Digest-Signature: t=<unix seconds>,v1=<hex>``: HMAC-SHA256 with the signing secret
  (its UTF-8 bytes as the key) over ``"<t>.<raw body>"``. The receiver recomputes it over the
  bytes it received, compares in constant time and refuses an old ``t`` (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING

from sla_digest.delivery.hook import HookChannel, delivery_id, reveal
from sla_digest.exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from sla_digest.delivery.channel import Delivery, Message
    from sla_digest.delivery.hook import Secret
    from sla_digest.delivery.http import HttpPoster
    from sla_digest.report.summary import Summary

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "WebhookChannel",
    "sign",
    "signature_header",
    "webhook_body",
]

DELIVERY_HEADER = "SLA-Digest-Delivery"
SIGNATURE_HEADER = "SLA-Digest-Signature"


def webhook_body(summary: Summary) -> bytes:
    """The summary document as compact UTF-8 JSON: the exact bytes that are signed."""
    document = summary.to_dict()
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(key: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` with the UTF-8 bytes of ``key``."""
    signed = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(key.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(key: str, body: bytes, *, timestamp: int) -> str:
    """``t=<timestamp>,v1=<signature>``."""
    return f"t={int(timestamp)},v1={sign(key, timestamp, body)}"


class WebhookChannel(HookChannel):
    """Posts the summary document, signed, to a receiver of the account's choosing."""

    kind = "webhook"
    noun = "webhook"

    def __init__(
        self,
        url: Secret,
        *,
        signing_key: Secret | None,
        where: str,
        key_where: str,
        poster: HttpPoster | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(url, where=where, poster=poster)
        self._signing_key = signing_key
        self.key_where = key_where
        self._clock = clock

    def request(self, message: Message, delivery: Delivery) -> tuple[bytes, dict[str, str]]:
        key = reveal(self._signing_key) if self._signing_key is not None else ""
        if not key.strip():
            raise ConfigError(
                f"{self.what(delivery)}: no signing secret; store one in {self.key_where} so "
                "the receiver can verify the digest"
            )
        body = webhook_body(message.summary)
        return body, {
            "Content-Type": "application/json; charset=utf-8",
            DELIVERY_HEADER: delivery_id(delivery, self.kind, self.where),
            SIGNATURE_HEADER: signature_header(key, body, timestamp=int(self._clock())),
        }
