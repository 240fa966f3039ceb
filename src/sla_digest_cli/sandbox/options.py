"""What the sandbox serves and how it misbehaves, checked once when the options are made."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from sla_digest.exceptions import ConfigError
from sla_digest.window import load_timezone
from sla_digest_cli.sandbox.faults import DEFAULT_FAULTS, FAULT_KINDS
from sla_digest_cli.sandbox.generate import build_dataset
from sla_digest_cli.sandbox.hostile import HOSTILE_MODES

if TYPE_CHECKING:
    from sla_digest_cli.sandbox.data import Dataset

__all__ = ["SandboxOptions", "generate_dataset"]

_MIN_REPORTING_VERSION = (4, 8)
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")


@dataclass(frozen=True)
class SandboxOptions:
    """What the sandbox serves and how it misbehaves; the defaults behave like a healthy 4.15."""

    account_id: int = 7
    day: date = date(2026, 11, 20)
    timezone: str = "Europe/Berlin"
    events: int = 600  # rows whose created_at is inside the report day
    seed: int = 7
    latency: float = 0.0  # seconds added to every response
    fault_rate: float = 0.0  # share of reporting_events requests answered with a fault
    faults: tuple[str, ...] = DEFAULT_FAULTS
    stall_seconds: float = 5.0
    shuffle_ties: bool = False  # rotate rows with equal created_at on every request
    rate_limit: int | None = None  # requests per window and client IP; beyond: 429
    rate_window: float = 1.0
    version: str = "4.15"  # below 4.8 reporting_events does not exist (404)
    # Fixed, public test tokens of a local fake: not secrets.
    admin_token: str = "sandbox-admin-token"  # noqa: S105
    agent_token: str = "sandbox-agent-token"  # noqa: S105
    bot_token: str = "sandbox-bot-token"  # noqa: S105
    other_account_token: str = "sandbox-other-account-token"  # noqa: S105
    suspended: bool = False
    # A broken or hostile server (see ``hostile``): its answers replace the honest ones, and
    # the body faults "truncated" and "cut" no longer apply.
    hostile: str | None = None

    def __post_init__(self) -> None:
        load_timezone(self.timezone)
        if self.events < 0:
            raise ConfigError(f"sandbox events must be 0 or more, not {self.events}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ConfigError(f"sandbox fault_rate must be between 0 and 1, not {self.fault_rate}")
        if self.latency < 0 or self.stall_seconds < 0:
            raise ConfigError("sandbox latency and stall_seconds must not be negative")
        unknown = sorted(set(self.faults) - FAULT_KINDS)
        if unknown:
            kinds = ", ".join(sorted(FAULT_KINDS))
            raise ConfigError(f"unknown sandbox fault kind {unknown[0]!r}; use one of {kinds}")
        if self.fault_rate > 0 and not self.faults:
            raise ConfigError("sandbox fault_rate is set but no fault kinds are given")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ConfigError(f"sandbox rate_limit must be at least 1, not {self.rate_limit}")
        if self.rate_window <= 0:
            raise ConfigError(f"sandbox rate_window must be positive, not {self.rate_window}")
        if not _VERSION.match(self.version):
            raise ConfigError(f"sandbox version {self.version!r} is not like '4.15'")
        if self.hostile is not None and self.hostile not in HOSTILE_MODES:
            modes = ", ".join(sorted(HOSTILE_MODES))
            raise ConfigError(f"unknown sandbox hostile mode {self.hostile!r}; use one of {modes}")
        tokens = (self.admin_token, self.agent_token, self.bot_token, self.other_account_token)
        if len(set(tokens)) != len(tokens) or not all(tokens):
            raise ConfigError("sandbox tokens must be distinct and not empty")

    @property
    def has_reporting_api(self) -> bool:
        """Whether this version has ``reporting_events`` (added in 4.8)."""
        match = _VERSION.match(self.version)
        assert match is not None  # checked in __post_init__
        return (int(match.group(1)), int(match.group(2))) >= _MIN_REPORTING_VERSION


def generate_dataset(options: SandboxOptions) -> Dataset:
    """The seeded data for ``options``; the same options always give the same data."""
    return build_dataset(
        account_id=options.account_id,
        day=options.day,
        timezone=options.timezone,
        events=options.events,
        seed=options.seed,
    )
