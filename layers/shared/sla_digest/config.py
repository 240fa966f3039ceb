"""Configuration: durations, SLA targets, the ``accounts.json`` document and the Lambda settings.

Validation is strict and local: a bad account entry becomes one error line naming the entry and
the key, and the good entries are still processed. Only a document that cannot be read as a whole
(not JSON, wrong shape, bad ``defaults``) raises.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeGuard
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sla_digest.exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "DEFAULT_CONFIG_KEY",
    "SETTINGS_VARIABLES",
    "SLA_METRICS",
    "AccountConfig",
    "Config",
    "Settings",
    "SlaBasis",
    "SlaPolicyLike",
    "SlaTargets",
    "load_config",
    "parse_duration",
    "parse_sla_flag",
    "resolve_targets",
    "targets_with_policy",
    "validate_address",
    "validate_base_url",
]

SlaBasis = Literal["calendar", "business_hours"]
SLA_METRICS: tuple[str, ...] = ("first_response", "reply_time", "conversation_resolved")
SLA_BASES: tuple[str, ...] = ("calendar", "business_hours")
DEFAULT_CONFIG_KEY = "config/accounts.json"

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(raw: Any, *, where: str = "duration") -> float:
    """Seconds from a number or a string like ``90s``, ``30m``, ``4h``, ``1d``."""
    if isinstance(raw, bool):
        raise ConfigError(f"{where}: {raw!r} is not a duration such as 90, '90s', '30m' or '4h'")
    if isinstance(raw, int | float):
        seconds = float(raw)
    elif isinstance(raw, str) and (match := _DURATION.match(raw.strip())):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ConfigError(f"{where}: {raw!r} is not a duration such as 90, '90s', '30m' or '4h'")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{where}: {raw!r} must be a positive duration")
    return seconds


@dataclass(frozen=True, slots=True)
class SlaTargets:
    """Seconds allowed per metric; ``None`` where no target is set."""

    first_response: float | None = None
    reply_time: float | None = None
    conversation_resolved: float | None = None
    basis: SlaBasis = "calendar"

    def target(self, metric: str) -> float | None:
        value: float | None = getattr(self, metric)
        return value


def parse_sla_flag(text: str, *, basis: SlaBasis = "calendar") -> SlaTargets:
    """Targets from the CLI form ``first_response=30m,reply_time=1h,conversation_resolved=24h``."""
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        metric, sep, duration = part.partition("=")
        metric = metric.strip()
        if not sep or metric not in SLA_METRICS:
            raise ConfigError(
                f"--sla: {part!r} is not METRIC=DURATION "
                f"with METRIC one of {', '.join(SLA_METRICS)}"
            )
        if metric in values:
            raise ConfigError(f"--sla: {metric} is given twice")
        values[metric] = parse_duration(duration.strip(), where=f"--sla {metric}")
    return SlaTargets(basis=basis, **values)


# --------------------------------------------------------------------------------------------
# accounts.json
# --------------------------------------------------------------------------------------------

# A deliberately plain address syntax: no display names, quotes or comments, so nothing that
# reaches a mail header can carry a second header or a second recipient.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_SECRET_ID = re.compile(r"[A-Za-z0-9/_+=.@:-]{1,2048}")
_MAX_RECIPIENTS = 50  # SES accepts at most 50 recipients per message
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})

_ACCOUNT_KEYS = frozenset(
    {
        "account_id",
        "name",
        "base_url",
        "token_secret",
        "timezone",
        "send_hour",
        "recipients",
        "sla_policy",
        "sla",
        "sla_basis",
        "enabled",
    }
)
# Everything but the account's identity can be shared through ``defaults``.
_DEFAULT_KEYS = _ACCOUNT_KEYS - {"account_id", "name"}
_BUILTIN_DEFAULTS: Mapping[str, Any] = {
    "timezone": "UTC",
    "send_hour": 7,
    "sla_basis": "calendar",
    "enabled": True,
}


class SlaPolicyLike(Protocol):
    """What :func:`resolve_targets` needs from a Chatwoot SLA policy (thresholds in seconds)."""

    @property
    def name(self) -> str | None: ...
    @property
    def first_response(self) -> float | None: ...
    @property
    def reply_time(self) -> float | None: ...
    @property
    def conversation_resolved(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One validated entry of ``accounts``, with the defaults already merged in."""

    account_id: int
    base_url: str
    token_secret: str
    recipients: tuple[str, ...]
    name: str | None = None
    timezone: str = "UTC"
    send_hour: int = 7
    sla_policy: str | None = None
    sla: Mapping[str, float] = field(default_factory=dict)
    sla_basis: SlaBasis = "calendar"
    enabled: bool = True
    default_sla: Mapping[str, float] = field(default_factory=dict)

    def _targets(self, values: Mapping[str, float]) -> SlaTargets:
        return SlaTargets(
            first_response=values.get("first_response"),
            reply_time=values.get("reply_time"),
            conversation_resolved=values.get("conversation_resolved"),
            basis=self.sla_basis,
        )

    @property
    def explicit_targets(self) -> SlaTargets:
        """The account's own ``sla`` values: they override its ``sla_policy``."""
        return self._targets(self.sla)

    @property
    def default_targets(self) -> SlaTargets:
        """``defaults.sla``: used where neither the account nor its policy sets a target."""
        return self._targets(self.default_sla)

    @property
    def sla_targets(self) -> SlaTargets:
        """What the document says, without any policy: own values over ``defaults.sla``."""
        return self._targets({**self.default_sla, **self.sla})

    @property
    def label(self) -> str:
        """How logs and errors name the account."""
        return f"account {self.account_id}" + (f" ({self.name})" if self.name else "")


@dataclass(frozen=True, slots=True)
class Config:
    """The valid accounts, and one error line per entry that was left out."""

    accounts: tuple[AccountConfig, ...]
    errors: tuple[str, ...] = ()
    source: str = "accounts.json"
    # Error lines by the account id the bad entry claimed, so a job for it can say why it fails.
    rejected: Mapping[int, str] = field(default_factory=dict, repr=False)

    @property
    def enabled(self) -> tuple[AccountConfig, ...]:
        return tuple(account for account in self.accounts if account.enabled)

    def account(self, account_id: int) -> AccountConfig:
        """The account with that id, or a :class:`ConfigError` saying why there is none."""
        for account in self.accounts:
            if account.account_id == account_id:
                return account
        if account_id in self.rejected:
            raise ConfigError(self.rejected[account_id])
        raise ConfigError(f"account {account_id} is not configured in {self.source}")


def load_config(data: bytes | str | Mapping[str, Any], *, source: str) -> Config:
    """Validate an ``accounts.json`` document (raw bytes, text or an already parsed mapping).

    ``source`` names the document in error messages (a file path or an ``s3://`` URL).
    """
    document = _parse_document(data, source=source)
    defaults = _validate_defaults(document.get("defaults", {}), source=source)
    entries = document["accounts"]

    accounts: list[AccountConfig] = []
    errors: list[str] = []
    rejected: dict[int, str] = {}
    claimed_ids: dict[int, list[int]] = {}
    for index, entry in enumerate(entries):
        if isinstance(entry, dict):
            claimed = entry.get("account_id")
            if _is_int(claimed):
                claimed_ids.setdefault(claimed, []).append(index)

    for index, entry in enumerate(entries):
        where = _entry_name(index, entry)
        problems: list[str] = []
        account: AccountConfig | None = None
        if not isinstance(entry, dict):
            problems.append("must be an object")
        else:
            account = _validate_account(entry, defaults, problems)
            claimed = entry.get("account_id")
            if _is_int(claimed) and len(claimed_ids[claimed]) > 1:
                others = ", ".join(f"accounts[{i}]" for i in claimed_ids[claimed] if i != index)
                problems.append(f"account_id {claimed} is also used by {others}")
        if problems:
            line = f"{where}: {'; '.join(problems)}"
            errors.append(line)
            if isinstance(entry, dict) and _is_int(entry.get("account_id")):
                rejected.setdefault(entry["account_id"], line)
        elif account is not None:
            accounts.append(account)
    return Config(accounts=tuple(accounts), errors=tuple(errors), source=source, rejected=rejected)


def resolve_targets(account: AccountConfig, policies: Iterable[SlaPolicyLike]) -> SlaTargets:
    """The account's SLA targets: its own ``sla``, then its named policy, then ``defaults.sla``."""
    return targets_with_policy(
        account.explicit_targets,
        account.sla_policy,
        policies,
        label=account.label,
        fallback=account.default_targets,
    )


def targets_with_policy(
    explicit: SlaTargets,
    policy_name: str | None,
    policies: Iterable[SlaPolicyLike],
    *,
    label: str,
    fallback: SlaTargets | None = None,
) -> SlaTargets:
    """Per metric: ``explicit``, else the Chatwoot SLA policy ``policy_name``, else ``fallback``.

    The defaults sit below the policy, so a shared ``defaults.sla`` does not silently overrule
    the policy an account names.
    """
    policy: SlaPolicyLike | None = None
    if policy_name is not None:
        known = list(policies)
        policy = next((p for p in known if p.name == policy_name), None)
        if policy is None:
            names = ", ".join(sorted(repr(p.name) for p in known if p.name)) or "none"
            raise ConfigError(
                f"{label}: sla_policy {policy_name!r} is not an SLA policy of "
                f"the Chatwoot account (it has: {names})"
            )
    values: dict[str, float | None] = {}
    for metric in SLA_METRICS:
        value = explicit.target(metric)
        if value is None and policy is not None:
            threshold = getattr(policy, metric)
            if threshold is not None and threshold > 0:
                value = float(threshold)
        if value is None and fallback is not None:
            value = fallback.target(metric)
        values[metric] = value
    return SlaTargets(
        first_response=values["first_response"],
        reply_time=values["reply_time"],
        conversation_resolved=values["conversation_resolved"],
        basis=explicit.basis,
    )


def validate_base_url(raw: Any, *, where: str = "base_url") -> str:
    """A Chatwoot base URL without its trailing slash: https, or plain http for loopback hosts."""
    problem = _check_base_url(raw)
    if problem:
        raise ConfigError(f"{where}: {problem.removeprefix('base_url ')}")
    url: str = raw
    return url.rstrip("/")


def validate_address(raw: Any) -> str | None:
    """The reason ``raw`` is not a plain ``local@domain`` address, or ``None`` if it is one."""
    if not isinstance(raw, str):
        return f"{raw!r} is not a string"
    if any(ch in raw for ch in "\r\n\t\0") or raw != raw.strip():
        return f"{raw!r} contains whitespace or line breaks"
    local, at, domain = raw.rpartition("@")
    if (
        not at
        or len(raw) > 254
        or not _LOCAL_PART.fullmatch(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
        or "." not in domain
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in domain.split("."))
    ):
        return f"{raw!r} is not an email address like name@example.com"
    return None


def _parse_document(data: bytes | str | Mapping[str, Any], *, source: str) -> Mapping[str, Any]:
    if isinstance(data, bytes | str):
        try:
            document = json.loads(data)
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: is not UTF-8 text") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{source}: is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            ) from exc
        except RecursionError as exc:
            raise ConfigError(f"{source}: is not valid JSON (nested too deeply)") from exc
    else:
        document = data
    if not isinstance(document, Mapping):
        raise ConfigError(f'{source}: must be a JSON object with an "accounts" list')
    unknown = sorted(set(document) - {"defaults", "accounts"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown top-level key {unknown[0]!r} (allowed: accounts, defaults)"
        )
    if not isinstance(document.get("accounts"), list):
        raise ConfigError(f'{source}: "accounts" must be a list of account objects')
    return document


def _validate_defaults(raw: Any, *, source: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f'{source}: "defaults" must be an object')
    problems: list[str] = []
    unknown = sorted(set(raw) - _DEFAULT_KEYS)
    if unknown:
        problems.append(f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_DEFAULT_KEYS))})")
    checked = {key: value for key, value in raw.items() if key in _DEFAULT_KEYS}
    for key, value in checked.items():
        problem = _check_value(key, value)
        if problem:
            problems.append(problem)
    if problems:
        raise ConfigError(f"{source}: defaults: {'; '.join(problems)}")
    return {**_BUILTIN_DEFAULTS, **checked}


def _validate_account(
    entry: Mapping[str, Any], defaults: Mapping[str, Any], problems: list[str]
) -> AccountConfig | None:
    unknown = sorted(set(entry) - _ACCOUNT_KEYS)
    for key in unknown:
        problems.append(f"unknown key {key!r}")
    own = {key: value for key, value in entry.items() if key in _ACCOUNT_KEYS}
    merged: dict[str, Any] = {**defaults, **own}
    for key in ("account_id", "base_url", "token_secret", "recipients"):
        if key not in merged:
            problems.append(f"{key} is required")
    for key, value in own.items():
        problem = _check_value(key, value)
        if problem:
            problems.append(problem)
    if problems:
        return None
    return AccountConfig(
        account_id=merged["account_id"],
        name=merged.get("name"),
        base_url=merged["base_url"].rstrip("/"),
        token_secret=merged["token_secret"],
        timezone=merged["timezone"],
        send_hour=merged["send_hour"],
        recipients=tuple(merged["recipients"]),
        sla_policy=merged.get("sla_policy"),
        sla={
            metric: parse_duration(value, where=f"sla.{metric}")
            for metric, value in own.get("sla", {}).items()
        },
        sla_basis=merged["sla_basis"],
        enabled=merged["enabled"],
        default_sla={
            metric: parse_duration(value, where=f"defaults.sla.{metric}")
            for metric, value in defaults.get("sla", {}).items()
        },
    )


def _check_value(key: str, value: Any) -> str | None:
    """The problem with one key's value, or ``None``: shared by ``defaults`` and accounts."""
    checker = _CHECKS[key]
    return checker(value)


def _check_account_id(value: Any) -> str | None:
    if not _is_int(value) or value <= 0:
        return f"account_id {value!r} is not a positive integer"
    return None


def _check_name(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        return f"name {value!r} must be a non-empty string of at most 200 characters"
    if any(ch in value for ch in "\r\n\0"):
        return f"name {value!r} contains line breaks"
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        return f"name {value!r} contains a lone surrogate (not valid Unicode text)"
    return None


def _check_base_url(value: Any) -> str | None:
    if not isinstance(value, str) or not value or any(ch.isspace() for ch in value):
        return f"base_url {value!r} is not a URL such as 'https://chat.example.com'"
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return f"base_url {value!r} is not a URL such as 'https://chat.example.com'"
    if parts.scheme not in ("https", "http") or not host:
        return f"base_url {value!r} is not a URL such as 'https://chat.example.com'"
    if parts.username is not None or parts.password is not None:
        return f"base_url {value!r} must not contain credentials; use token_secret"
    if parts.query or parts.fragment:
        return f"base_url {value!r} must not have a query or fragment"
    if parts.scheme == "http" and not _is_loopback(host):
        return f"base_url {value!r} must use https (plain http only for localhost)"
    return None


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_token_secret(value: Any) -> str | None:
    if not isinstance(value, str) or not _SECRET_ID.fullmatch(value):
        return f"token_secret {value!r} is not a Secrets Manager secret name or ARN"
    return None


def _check_timezone(value: Any) -> str | None:
    if not isinstance(value, str) or value in _NOT_ZONES or value not in _zone_names():
        return f"timezone {value!r} is not an IANA name such as 'Europe/Berlin'"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"timezone {value!r} is not an IANA name such as 'Europe/Berlin'"
    return None


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_send_hour(value: Any) -> str | None:
    if not _is_int(value) or not 0 <= value <= 23:
        return f"send_hour {value!r} is not a whole hour from 0 to 23"
    return None


def _check_recipients(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return "recipients must be a non-empty list of email addresses"
    if len(value) > _MAX_RECIPIENTS:
        return f"recipients has {len(value)} addresses; at most {_MAX_RECIPIENTS} are allowed"
    for address in value:
        problem = validate_address(address)
        if problem:
            return f"recipients: {problem}"
    lowered = [address.lower() for address in value]
    duplicates = sorted({a for a in lowered if lowered.count(a) > 1})
    if duplicates:
        return f"recipients: {duplicates[0]!r} is listed twice"
    return None


def _check_sla_policy(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        return f"sla_policy {value!r} must be the name of a Chatwoot SLA policy"
    return None


def _check_sla(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return f"sla must be an object with keys {', '.join(SLA_METRICS)}"
    for metric, duration in value.items():
        if metric not in SLA_METRICS:
            return f"sla: unknown metric {metric!r} (allowed: {', '.join(SLA_METRICS)})"
        try:
            parse_duration(duration, where=f"sla.{metric}")
        except ConfigError as exc:
            return str(exc)
    return None


def _check_sla_basis(value: Any) -> str | None:
    if value not in SLA_BASES:
        return f"sla_basis {value!r} must be 'calendar' or 'business_hours'"
    return None


def _check_enabled(value: Any) -> str | None:
    if not isinstance(value, bool):
        return f"enabled {value!r} must be true or false"
    return None


_CHECKS = {
    "account_id": _check_account_id,
    "name": _check_name,
    "base_url": _check_base_url,
    "token_secret": _check_token_secret,
    "timezone": _check_timezone,
    "send_hour": _check_send_hour,
    "recipients": _check_recipients,
    "sla_policy": _check_sla_policy,
    "sla": _check_sla,
    "sla_basis": _check_sla_basis,
    "enabled": _check_enabled,
}


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _entry_name(index: int, entry: Any) -> str:
    claimed = entry.get("account_id") if isinstance(entry, dict) else None
    if _is_int(claimed):
        return f"accounts[{index}] (account_id {claimed})"
    return f"accounts[{index}]"


# --------------------------------------------------------------------------------------------
# Lambda settings
# --------------------------------------------------------------------------------------------

SETTINGS_VARIABLES: Mapping[str, str] = {
    "ARCHIVE_BUCKET": "archive_bucket",
    "CONFIG_KEY": "config_key",
    "JOBS_QUEUE_URL": "jobs_queue_url",
    "IDEMPOTENCY_TABLE": "idempotency_table",
    "SENDER_ADDRESS": "sender_address",
    "TEMPLATES_DIR": "templates_dir",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Where the deployed functions find their resources: read once per cold start.

    A function requires only the variables it uses; the others stay empty, and no code path of
    that function reads them.
    """

    archive_bucket: str
    config_key: str = DEFAULT_CONFIG_KEY
    jobs_queue_url: str = ""
    idempotency_table: str = ""
    sender_address: str = ""
    templates_dir: Path = field(default_factory=Path)

    DISPATCH: ClassVar[tuple[str, ...]] = ("ARCHIVE_BUCKET", "JOBS_QUEUE_URL")
    DIGEST: ClassVar[tuple[str, ...]] = (
        "ARCHIVE_BUCKET",
        "IDEMPOTENCY_TABLE",
        "SENDER_ADDRESS",
        "TEMPLATES_DIR",
    )

    def __post_init__(self) -> None:
        if not isinstance(self.templates_dir, Path):
            object.__setattr__(self, "templates_dir", Path(self.templates_dir))

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, required: Iterable[str]) -> Settings:
        """Read exactly the variables of the Lambda contract; name every required one missing."""
        needed: Sequence[str] = tuple(required)
        unknown = [name for name in needed if name not in SETTINGS_VARIABLES]
        if unknown:
            raise ValueError(f"not a settings variable: {', '.join(unknown)}")
        values = {
            attribute: environ.get(variable, "").strip()
            for variable, attribute in SETTINGS_VARIABLES.items()
        }
        missing = [name for name in needed if not values[SETTINGS_VARIABLES[name]]]
        if missing:
            raise ConfigError(
                f"environment variable {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set (see template.yaml)"
            )
        if not values["config_key"]:
            values["config_key"] = DEFAULT_CONFIG_KEY
        if values["sender_address"] and (problem := validate_address(values["sender_address"])):
            raise ConfigError(f"environment variable SENDER_ADDRESS: {problem}")
        return cls(
            archive_bucket=values["archive_bucket"],
            config_key=values["config_key"],
            jobs_queue_url=values["jobs_queue_url"],
            idempotency_table=values["idempotency_table"],
            sender_address=values["sender_address"],
            templates_dir=Path(values["templates_dir"]),
        )
