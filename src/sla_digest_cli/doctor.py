"""``sla-digest doctor``: check a set-up before the first scheduled run, one line per check.

Each check prints ``✔`` or ``✖`` with what to fix; ``·`` lines are notes that pass or fail
nothing. Checked: the configuration (the same validation the functions run), and per enabled
account: the base URL answers (over TLS; plain http only on loopback), the Chatwoot version
is 4.8 or newer (``GET /api``, no token), the token is valid and an administrator's, the
account exists, the named SLA policy exists, the time zone is valid. With ``--aws --stack``
(:mod:`sla_digest_cli.doctor_aws`): the stack's resources, the configuration object in its
bucket, each token secret (read with your credentials, never printed), the sender's SES
identity and whether the SES account is still in the sandbox. The exit status is 1 if any
check failed. The HTTP checks are plain requests of their own: they diagnose, where a run's
client retries and paces, so they live here and not in the Lambda layer.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sla_digest.exceptions import ConfigError
from sla_digest_cli.common import TOKEN_VARIABLE

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping

    import requests

    from sla_digest.config import AccountConfig, ChannelConfig, Config

__all__ = [
    "MIN_VERSION",
    "Report",
    "Target",
    "check_config",
    "check_target",
    "register",
    "run_doctor",
]

MIN_VERSION = (4, 8)  # reporting_events exists from Chatwoot 4.8 (chatwoot-api.md)
TIMEOUT = 10.0
_VERSION = re.compile(r"^v?(\d+)\.(\d+)")
_NOT_FOUND = "Resource could not be found"
# Chatwoot's 401 texts (chatwoot-api.md) → the line doctor prints for each.
_REFUSALS = {
    "Invalid Access Token": "Chatwoot rejects the token (Invalid Access Token): copy it again "
    "from Profile settings → Access token",
    "You are not authorized to do this action": "the token is valid but its user is not an "
    "administrator of account {account}: use an administrator's access token",
    "You are not authorized to access this account": "the token's user is not a member of "
    "account {account}: use the token of an administrator of that account",
    "Account is suspended": "account {account} is suspended: reactivate it in Chatwoot or set "
    "enabled to false",
    "Access to this endpoint is not authorized for bots": "the token is a bot's: reporting "
    "needs an administrator's personal access token",
}


class Report:
    """The lines of a doctor run, written as they are found; counts the failures."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self.failures = 0

    def heading(self, text: str) -> None:
        self._say(text)

    def passed(self, text: str) -> None:
        self._say(f"  ✔ {text}")

    def failed(self, text: str) -> None:
        self.failures += 1
        self._say(f"  ✖ {text}")

    def note(self, text: str) -> None:
        self._say(f"  · {text}")


@dataclass(frozen=True, slots=True)
class Target:
    """One Chatwoot account to check, from ``accounts.json`` or from the flags."""

    account_id: int
    base_url: str
    label: str
    timezone: str | None = None
    sla_policy: str | None = None
    token_secret: str | None = None
    recipients: tuple[str, ...] = ()
    channels: tuple[ChannelConfig, ...] = ()

    @classmethod
    def of(cls, account: AccountConfig) -> Target:
        return cls(
            account_id=account.account_id,
            base_url=account.base_url,
            label=account.label,
            timezone=account.timezone,
            sla_policy=account.sla_policy,
            token_secret=account.token_secret,
            recipients=tuple(account.recipients),
            channels=tuple(account.channels),
        )


# --------------------------------------------------------------------------------------------
# The configuration
# --------------------------------------------------------------------------------------------


def check_config(data: bytes, *, source: str, report: Report) -> Config | None:
    """Validate ``accounts.json``; ``None`` when the document as a whole is unusable."""
    from sla_digest.config import load_config

    report.heading(f"configuration {source}")
    try:
        config = load_config(data, source=source)
    except ConfigError as exc:
        report.failed(str(exc))
        return None
    enabled = len(config.enabled)
    report.passed(
        f"valid: {len(config.accounts)} account(s), {enabled} enabled"
        + (f", {len(config.errors)} entry(ies) left out" if config.errors else "")
    )
    for error in config.errors:
        report.failed(error)
    return config


# --------------------------------------------------------------------------------------------
# Chatwoot
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes
    location: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, ValueError):
            return None

    def error(self) -> str | None:
        document = self.json()
        error = document.get("error") if isinstance(document, dict) else None
        return error if isinstance(error, str) else None


def _where(base_url: str) -> str:
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _get(
    session: requests.Session,
    url: str,
    *,
    token: str | None = None,
    params: Mapping[str, int] | None = None,
) -> _Answer | str:
    """The answer, or the one-line reason there was none (naming host and port)."""
    import requests

    headers = {"Accept": "application/json"}
    if token is not None:
        headers["api_access_token"] = token
    where = _where(url)
    try:
        response = session.get(
            url, params=params, headers=headers, timeout=TIMEOUT, allow_redirects=False
        )
    except requests.exceptions.SSLError as exc:
        reason = _tls_reason(exc)
        return (
            f"TLS with {where} failed ({reason}): Chatwoot needs a certificate the system "
            "trusts (check base_url's host name and the server's certificate chain)"
        )
    except requests.exceptions.ConnectTimeout:
        return f"no connection to {where} within {TIMEOUT:.0f} s: check base_url and firewalls"
    except requests.exceptions.Timeout:
        return f"{where} did not answer within {TIMEOUT:.0f} s: is Chatwoot overloaded?"
    except requests.exceptions.ConnectionError as exc:
        text = str(exc)
        if "Name or service not known" in text or "nodename nor servname" in text:
            why = "the host name does not resolve"
        elif "refused" in text.lower():
            why = "connection refused"
        else:
            why = "cannot connect"
        return f"cannot reach {where} ({why}): check base_url and that Chatwoot runs there"
    except requests.RequestException as exc:
        return f"cannot send a request to {where} ({type(exc).__name__}): check base_url"
    body = response.content[:1_000_000]
    return _Answer(response.status_code, body, response.headers.get("Location", ""))


def _tls_reason(exc: Exception) -> str:
    text = str(exc)
    for needle, reason in (
        ("CERTIFICATE_VERIFY_FAILED", "certificate not trusted"),
        ("hostname mismatch", "certificate is for another host name"),
        ("doesn't match", "certificate is for another host name"),
        ("WRONG_VERSION_NUMBER", "the port does not speak TLS"),
        ("expired", "certificate expired"),
    ):
        if needle in text:
            return reason
    return "handshake failed"


def check_version(session: requests.Session, target: Target, report: Report) -> bool:
    """Reachable (over TLS unless loopback) and Chatwoot 4.8 or newer; whether to go on."""
    base = target.base_url
    answer = _get(session, f"{base}/api")
    if isinstance(answer, str):
        report.failed(answer)
        return False
    scheme = urlsplit(base).scheme
    report.passed(
        f"{_where(base)} answers over TLS"
        if scheme == "https"
        else f"{_where(base)} answers (plain http: loopback only)"
    )
    if 300 <= answer.status < 400:
        report.failed(
            f"{base}/api redirects to {answer.location or 'elsewhere'}: set base_url to the "
            "address Chatwoot answers on"
        )
        return True
    document = answer.json()
    version = document.get("version") if isinstance(document, dict) else None
    match = _VERSION.match(version) if isinstance(version, str) else None
    if answer.status != 200 or match is None:
        report.failed(
            f"GET {base}/api gave no Chatwoot version (HTTP {answer.status}): is base_url the "
            "address of Chatwoot itself, such as https://app.chatwoot.com?"
        )
        return True
    found = (int(match.group(1)), int(match.group(2)))
    if found < MIN_VERSION:
        report.failed(
            f"Chatwoot {version} is older than 4.8, which added the reporting-events API: "
            "upgrade Chatwoot"
        )
    else:
        report.passed(f"Chatwoot {version} (4.8 or newer)")
    return True


def check_access(session: requests.Session, target: Target, token: str, report: Report) -> bool:
    """Token valid and an administrator's, account found; whether the account is readable.

    One reporting-events request for a one-second window of 1970: nothing comes back, but
    Chatwoot checks the token, the account and the role first.
    """
    base, account = target.base_url, target.account_id
    answer = _get(
        session,
        f"{base}/api/v1/accounts/{account}/reporting_events",
        token=token,
        params={"since": 0, "until": 1, "page": 1},
    )
    if isinstance(answer, str):
        report.failed(answer)
        return False
    error = answer.error()
    if answer.status == 200 and isinstance(answer.json(), dict):
        report.passed("the token is valid and an administrator's")
        report.passed(f"account {account} found")
        return True
    if answer.status == 401:
        hint = _REFUSALS.get(error or "")
        report.failed(
            hint.format(account=account)
            if hint is not None
            else "Chatwoot refused the token (HTTP 401): check it is an administrator's"
        )
        return False
    if answer.status == 404 and error == _NOT_FOUND:
        report.passed("the token is valid")
        report.failed(f"account {account} not found at {base}: check account_id")
        return False
    if answer.status == 404:
        report.failed(
            f"{base} has no reporting-events API (HTTP 404): it needs Chatwoot 4.8 or newer "
            "with the enterprise edition (the default images)"
        )
        return False
    if answer.status == 429:
        report.failed("Chatwoot is rate limiting this address (HTTP 429): try again in a minute")
        return False
    report.failed(f"Chatwoot answered HTTP {answer.status} to reporting_events")
    return False


def check_sla_policy(session: requests.Session, target: Target, token: str, report: Report) -> None:
    """The named ``sla_policy`` is one of the account's SLA policies."""
    if target.sla_policy is None:
        return
    base, account = target.base_url, target.account_id
    answer = _get(session, f"{base}/api/v1/accounts/{account}/sla_policies", token=token)
    if isinstance(answer, str):
        report.failed(answer)
        return
    if answer.status == 404:
        report.failed(
            f"sla_policy {target.sla_policy!r} is named, but this Chatwoot has no SLA policies "
            "(an enterprise feature): remove sla_policy or give sla targets"
        )
        return
    document = answer.json()
    rows = document.get("payload") if isinstance(document, dict) else None
    if answer.status != 200 or not isinstance(rows, list):
        report.failed(f"the SLA policies could not be read (HTTP {answer.status})")
        return
    names = [row.get("name") for row in rows if isinstance(row, dict)]
    if target.sla_policy in names:
        report.passed(f"SLA policy {target.sla_policy!r} exists")
    else:
        known = ", ".join(sorted(repr(n) for n in names if isinstance(n, str))) or "none"
        report.failed(
            f"sla_policy {target.sla_policy!r} is not an SLA policy of account {account} "
            f"(it has: {known}): correct the name"
        )


def check_timezone(target: Target, report: Report, *, now: datetime) -> None:
    from sla_digest.window import load_timezone

    if target.timezone is None:
        report.note("no --timezone given: the report day's time zone is not checked")
        return
    try:
        zone = load_timezone(target.timezone)
    except ConfigError as exc:
        report.failed(str(exc))
        return
    local = now.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    report.passed(f"time zone {target.timezone} (it is {local} there now)")


def check_target(
    target: Target,
    token: str | None,
    *,
    session: requests.Session,
    report: Report,
    now: datetime,
) -> None:
    """Every Chatwoot check of one account; later checks are skipped when one makes them moot."""
    if check_version(session, target, report):
        if token is None:
            report.note("the token, the account and the SLA policy are not checked: no token")
        elif check_access(session, target, token, report):
            check_sla_policy(session, target, token, report)
    else:
        report.note("the token, the account and the SLA policy are not checked: no connection")
    check_timezone(target, report, now=now)


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def _local_token(environ: Mapping[str, str], report: Report) -> str | None:
    token = environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        report.failed(
            f"no token: set {TOKEN_VARIABLE} to the access token of a Chatwoot administrator "
            "(Profile settings → Access token)"
        )
        return None
    return token


def run_doctor(
    args: argparse.Namespace,
    *,
    say: Callable[[str], None],
    session: requests.Session | None = None,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> int:
    """Run every check the flags ask for; 0 when all passed, 1 when any failed."""
    import requests

    from sla_digest.config import validate_base_url

    env = os.environ if environ is None else environ
    moment = now or datetime.now(tz=UTC)
    report = Report(say)
    http = session or requests.Session()
    aws = None
    if args.aws:
        from sla_digest_cli.doctor_aws import AwsDoctor

        aws = AwsDoctor.open(args, report=report)
    targets: list[Target] = []
    if args.base_url is not None:
        if args.account_id is None:
            raise ConfigError("doctor --base-url needs --account-id")
        base = validate_base_url(args.base_url, where="--base-url")
        label = f"account {args.account_id} at {base}"
        targets = [Target(args.account_id, base, label, args.timezone, args.sla_policy)]
    else:
        data, source = _config_bytes(args, aws)
        config = check_config(data, source=source, report=report) if data is not None else None
        if config is not None:
            targets = [Target.of(account) for account in config.enabled]
            for account in config.accounts:
                if not account.enabled:
                    report.note(f"{account.label} is disabled: not checked")
    if aws is not None:
        aws.check_sender(targets)
    for target in targets:
        report.heading(target.label)
        if aws is not None and target.token_secret is not None:
            token = aws.token(target.token_secret)
            aws.check_channels(target.account_id, target.channels)
        else:
            if target.token_secret is not None:
                report.note(
                    f"token_secret {target.token_secret!r} is not used locally: the token comes "
                    f"from {TOKEN_VARIABLE} (add --aws --stack NAME to read the secret)"
                )
            token = _local_token(env, report)
        check_target(target, token, session=http, report=report, now=moment)
    say(
        "all checks passed"
        if report.failures == 0
        else f"{report.failures} check(s) failed: fix the lines marked ✖"
    )
    return 0 if report.failures == 0 else 1


def _config_bytes(args: argparse.Namespace, aws: Any) -> tuple[bytes | None, str]:
    """``--config``'s bytes (compared with the stack's object under ``--aws``), or the object."""
    if args.config is not None:
        try:
            with open(args.config, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise ConfigError(f"cannot read {args.config}: {exc.strerror}") from exc
        if aws is not None:
            aws.check_config_object(data, local_name=args.config)
        return data, args.config
    if aws is None:
        raise ConfigError(
            "doctor needs --config accounts.json, --base-url with --account-id, "
            "or --aws --stack NAME"
        )
    return aws.check_config_object(None, local_name=None), aws.config_uri


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _cmd_doctor(args: argparse.Namespace) -> int:
    return run_doctor(args, say=_say)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``doctor`` to the ``sla-digest`` parser."""
    from sla_digest_cli.common import positive_int

    doctor = command(
        "doctor",
        help="check the configuration, Chatwoot access and (with --aws) the deployed stack",
        description=f"The Chatwoot token is read from {TOKEN_VARIABLE}, or with --aws from "
        "each account's token_secret; it is never printed.",
    )
    doctor.add_argument("--config", help="accounts.json to check")
    doctor.add_argument("--base-url", help="check one Chatwoot account instead of a config")
    doctor.add_argument("--account-id", type=positive_int, help="with --base-url")
    doctor.add_argument("--timezone", help="with --base-url: the account's IANA time zone")
    doctor.add_argument("--sla-policy", help="with --base-url: an SLA policy name to look for")
    doctor.add_argument(
        "--aws", action="store_true", help="also check the deployed stack (needs --stack)"
    )
    doctor.add_argument("--stack", help="the deployed stack's name, with --aws")
    doctor.add_argument("--profile", help="AWS profile, with --aws")
    doctor.add_argument("--region", help="AWS region, with --aws")
    doctor.set_defaults(func=_cmd_doctor)
