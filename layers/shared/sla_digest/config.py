"""Configuration: durations, SLA targets, ``accounts.json`` as typed records, the Lambda settings.

The document is checked against its JSON Schema (:mod:`sla_digest.config_schema`, published at
the repository root for editors); here the valid entries are merged with ``defaults`` and the
rules that span keys are checked: required keys that ``defaults`` may supply, channels against
recipients and digests, unique account ids.

Validation is strict and local: a bad account entry becomes one error line naming the entry and
the keys, and the good entries are still processed. Only a document that cannot be read as a
whole (not JSON, wrong shape, bad ``defaults``) raises.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from sla_digest.config_schema import (
    accounts_schema,
    builtin_defaults,
    describe,
    document_problem,
    duration_seconds,
    is_int,
    shown,
    validate_address,
    validate_base_url,
    validator,
)
from sla_digest.exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from sla_digest.config_schema import Located

__all__ = [
    "CHANNEL_TYPES",
    "DEFAULT_CONFIG_KEY",
    "DIGESTS",
    "SETTINGS_VARIABLES",
    "SLA_METRICS",
    "AccountConfig",
    "ChannelConfig",
    "ChannelType",
    "Config",
    "DigestName",
    "Settings",
    "SlaBasis",
    "SlaPolicyLike",
    "SlaTargets",
    "WeekStart",
    "accounts_schema",
    "load_config",
    "parse_duration",
    "parse_sla_flag",
    "resolve_targets",
    "targets_with_policy",
    "validate_address",
    "validate_base_url",
]

SlaBasis = Literal["calendar", "business_hours"]
DigestName = Literal["daily", "weekly", "monthly"]
WeekStart = Literal["monday", "sunday"]
ChannelType = Literal["email", "slack", "teams", "webhook"]
SLA_METRICS: tuple[str, ...] = ("first_response", "reply_time", "conversation_resolved")
DIGESTS: tuple[DigestName, ...] = ("daily", "weekly", "monthly")
CHANNEL_TYPES: tuple[ChannelType, ...] = ("email", "slack", "teams", "webhook")
DEFAULT_CONFIG_KEY = "config/accounts.json"


def parse_duration(raw: Any, *, where: str = "duration") -> float:
    """Seconds from a number or a string like ``90s``, ``30m``, ``4h``, ``1d``."""
    try:
        return duration_seconds(raw)
    except ValueError as exc:
        raise ConfigError(f"{where}: {shown(raw)} {exc}") from exc


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
# The accounts.json model
# --------------------------------------------------------------------------------------------


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
class ChannelConfig:
    """One way an account's digests leave: secrets are named here, never held.

    ``recipients`` is set for email only; ``url_secret`` names the Secrets Manager secret holding
    a Slack, Teams or webhook URL, ``signing_secret`` the webhook's HMAC key. ``periods`` is
    filled in by :class:`AccountConfig` (the account's digests when the document gives none).
    """

    type: ChannelType
    recipients: tuple[str, ...] = ()
    url_secret: str | None = None
    signing_secret: str | None = None
    periods: tuple[DigestName, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One validated entry of ``accounts``, with the defaults already merged in.

    ``channels`` is never empty once built: without any, the account has the one email channel
    to ``recipients`` that the configuration contract promises.
    """

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
    digests: tuple[DigestName, ...] = ("daily",)
    week_start: WeekStart = "monday"
    breach_list_size: int = 10
    link_request_budget: int = 100
    channels: tuple[ChannelConfig, ...] = ()

    def __post_init__(self) -> None:
        channels = self.channels or (ChannelConfig(type="email"),)
        filled = tuple(
            replace(
                channel,
                recipients=channel.recipients
                or (self.recipients if channel.type == "email" else ()),
                periods=channel.periods or self.digests,
            )
            for channel in channels
        )
        object.__setattr__(self, "channels", filled)

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


# --------------------------------------------------------------------------------------------
# Loading and validating accounts.json
# --------------------------------------------------------------------------------------------


def load_config(data: bytes | str | Mapping[str, Any], *, source: str) -> Config:
    """Validate an ``accounts.json`` document (raw bytes, text or an already parsed mapping).

    ``source`` names the document in error messages (a file path or an ``s3://`` URL). The same
    bytes read again, as a warm Lambda reads an unchanged object, are not validated again.
    """
    if isinstance(data, bytes | str):
        return _load_text(data, source)
    return _load(data, source)


@functools.lru_cache(maxsize=4)
def _load_text(data: bytes | str, source: str) -> Config:
    return _load(_parse_json(data, source=source), source)


def _load(document: Any, source: str) -> Config:
    try:
        return _validated(document, source=source)
    except RecursionError as exc:  # only a document parsed elsewhere can be this deep
        raise ConfigError(f"{source}: is nested too deeply") from exc


def _validated(document: Any, *, source: str) -> Config:
    errors = list(validator().iter_errors(document))
    problem = document_problem(errors)
    if problem:
        raise ConfigError(f"{source}: {problem}")
    by_entry: dict[int, list[Located]] = {}
    in_defaults: list[Located] = []
    for error in errors:
        path = tuple(error.absolute_path)
        if path[0] == "accounts":
            by_entry.setdefault(int(path[1]), []).append((path[2:], error))
        else:
            in_defaults.append((path[1:], error))
    defaults = _checked_defaults(document.get("defaults", {}), in_defaults, source=source)
    default_sla = {
        metric: duration_seconds(value) for metric, value in defaults.get("sla", {}).items()
    }
    entries: list[Any] = document["accounts"]
    claimed: dict[int, list[int]] = {}
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and is_int(entry.get("account_id")):
            claimed.setdefault(entry["account_id"], []).append(index)

    accounts: list[AccountConfig] = []
    failures: list[str] = []
    rejected: dict[int, str] = {}
    for index, entry in enumerate(entries):
        problems = describe(by_entry.get(index, []), entry)
        account = None
        account_id = entry.get("account_id") if isinstance(entry, dict) else None
        if isinstance(entry, dict):
            account = _build_account(entry, defaults, default_sla, problems)
        if is_int(account_id) and len(claimed[account_id]) > 1:
            others = ", ".join(f"accounts[{i}]" for i in claimed[account_id] if i != index)
            problems.append(f"account_id {account_id} is also used by {others}")
        if problems:
            where = f"accounts[{index}]"
            where += f" (account_id {account_id})" if is_int(account_id) else ""
            line = f"{where}: {'; '.join(dict.fromkeys(problems))}"
            failures.append(line)
            if is_int(account_id):
                rejected.setdefault(account_id, line)
        elif account is not None:
            accounts.append(account)
    return Config(
        accounts=tuple(accounts), errors=tuple(failures), source=source, rejected=rejected
    )


def _parse_json(data: bytes | str, *, source: str) -> Any:
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{source}: is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from exc
    except RecursionError as exc:
        raise ConfigError(f"{source}: is not valid JSON (nested too deeply)") from exc
    except ValueError as exc:  # an integer of more digits than Python converts
        raise ConfigError(f"{source}: is not valid JSON (a number is too long)") from exc


def _checked_defaults(
    own: Mapping[str, Any], errors: list[Located], *, source: str
) -> Mapping[str, Any]:
    """``defaults`` over the schema's own defaults; a bad one makes the document unusable."""
    problems = describe(errors, own) or _address_problems(own)
    if problems:
        raise ConfigError(f"{source}: defaults: {'; '.join(dict.fromkeys(problems))}")
    return {**builtin_defaults(), **own}


def _build_account(
    entry: Mapping[str, Any],
    defaults: Mapping[str, Any],
    default_sla: Mapping[str, float],
    problems: list[str],
) -> AccountConfig | None:
    merged: dict[str, Any] = {**defaults, **entry}
    required = ("base_url", "token_secret") + (() if "channels" in merged else ("recipients",))
    problems[:0] = [f"{key} is required" for key in required if key not in merged]
    if not problems:
        problems.extend(_cross_problems(merged))
    if problems:
        return None
    return AccountConfig(
        account_id=merged["account_id"],
        name=merged.get("name"),
        base_url=merged["base_url"].rstrip("/"),
        token_secret=merged["token_secret"],
        recipients=tuple(merged.get("recipients", ())),
        timezone=merged["timezone"],
        send_hour=merged["send_hour"],
        sla_policy=merged.get("sla_policy"),
        sla={metric: duration_seconds(value) for metric, value in entry.get("sla", {}).items()},
        sla_basis=merged["sla_basis"],
        enabled=merged["enabled"],
        default_sla=default_sla,
        digests=tuple(merged["digests"]),
        week_start=merged["week_start"],
        breach_list_size=merged["breach_list_size"],
        link_request_budget=merged["link_request_budget"],
        channels=tuple(
            ChannelConfig(
                type=channel["type"],
                recipients=tuple(channel.get("recipients", ())),
                url_secret=channel.get("url_secret"),
                signing_secret=channel.get("signing_secret"),
                periods=tuple(channel.get("periods", ())),
            )
            for channel in merged.get("channels", ())
        ),
    )


def _cross_problems(merged: Mapping[str, Any]) -> list[str]:
    """What spans keys of a merged account: its channels against its recipients and digests."""
    problems = _address_problems(merged)
    has_recipients = bool(merged.get("recipients"))
    digests = merged["digests"]
    for index, channel in enumerate(merged.get("channels", ())):
        where = f"channels[{index}]"
        if channel["type"] == "email" and not channel.get("recipients") and not has_recipients:
            problems.append(
                f"{where}: an email channel needs recipients (its own or the account's)"
            )
        problems += [
            f"{where}.periods: {period!r} is not one of the account's digests "
            f"({', '.join(digests)})"
            for period in channel.get("periods", ())
            if period not in digests
        ]
    return problems


def _address_problems(values: Mapping[str, Any]) -> list[str]:
    """Addresses listed twice but for case (the schema's uniqueItems is case-sensitive)."""
    lists = [("recipients", values.get("recipients", ()))] + [
        (f"channels[{index}].recipients", channel.get("recipients", ()))
        for index, channel in enumerate(values.get("channels", ()))
    ]
    problems: list[str] = []
    for where, addresses in lists:
        seen: set[str] = set()
        for address in map(str.lower, addresses):
            if address in seen:
                problems.append(f"{where}: {shown(address)} is listed twice")
                break
            seen.add(address)
    return problems


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
