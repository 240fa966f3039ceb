"""A delivery ledger in one JSON file, for local runs: ``deliveries.json`` in the output folder.

It keeps the same promise as the DynamoDB ledger of the Lambda path, for one person running
the CLI: a rerun delivers only what has not succeeded yet, and ``force`` delivers again. Each
entry is the exactly-once key (the digest plus the channel's identity, which names where a
URL is kept but never holds one) and the outcome recorded for it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sla_digest.exceptions import ConfigError, DeliveryError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sla_digest.delivery.once import Outcome

__all__ = ["LEDGER_FILE", "FileLedger"]

logger = logging.getLogger(__name__)

LEDGER_FILE = "deliveries.json"
_VERSION = 1


def _key_text(key: Mapping[str, Any]) -> str:
    return json.dumps(dict(key), sort_keys=True, separators=(",", ":"), default=str)


class FileLedger:
    """A :class:`~.once.DeliveryLedger` over a JSON file, written whole after every send.

    The file is replaced atomically (write beside it, then rename), so a run that dies never
    leaves it half-written; a file that is not a ledger is refused, never overwritten.
    """

    def __init__(self, path: Path, *, clock: Callable[[], datetime] | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or (lambda: datetime.now(tz=UTC))
        self._lock = threading.Lock()

    def entries(self) -> list[dict[str, Any]]:
        """Every recorded delivery: ``{"key": {...}, "outcome": {...}, "recorded_at": ...}``."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise DeliveryError(f"cannot read the ledger {self.path}: {exc.strerror}") from exc
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(
                f"{self.path} is not a delivery ledger (not JSON): move it away to start afresh"
            ) from exc
        entries = document.get("deliveries") if isinstance(document, dict) else None
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("key"), dict) for e in entries
        ):
            raise ConfigError(
                f"{self.path} is not a delivery ledger (no 'deliveries' list): move it away "
                "to start afresh"
            )
        return entries

    def _write(self, entries: list[dict[str, Any]]) -> None:
        text = json.dumps({"version": _VERSION, "deliveries": entries}, indent=2) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(
                prefix=".deliveries-", suffix=".tmp", dir=self.path.parent
            )
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            Path(temporary).replace(self.path)
        except OSError as exc:
            raise DeliveryError(f"cannot write the ledger {self.path}: {exc.strerror}") from exc

    def once(
        self, key: Mapping[str, Any], send: Callable[[], Outcome], *, force: bool, where: str
    ) -> tuple[Outcome, bool]:
        """The recorded outcome of ``key`` (a duplicate), or ``send()``'s, recorded now."""
        wanted = _key_text(key)
        with self._lock:
            if not force:
                for entry in self.entries():
                    if _key_text(entry["key"]) == wanted and isinstance(entry.get("outcome"), dict):
                        return dict(entry["outcome"]), True
            outcome = send()
            entries = [e for e in self.entries() if _key_text(e["key"]) != wanted]
            entries.append(
                {
                    "key": json.loads(wanted),
                    "outcome": outcome,
                    "recorded_at": self._clock().astimezone(UTC).isoformat(timespec="seconds"),
                }
            )
            self._write(entries)
        if force:
            logger.info("%s: delivered again on purpose (force)", where)
        return outcome, False
