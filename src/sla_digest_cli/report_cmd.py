"""``sla-digest report`` and ``run --from/--to``: weekly and monthly digests from a local archive.

``run … --from D1 --to D2 --out ROOT`` archives several days under ROOT in the archive layout
(the same keys as the bucket); ``report --period week|month --archive ROOT …`` builds a week's
or month's digest from the days archived there, fetching the missing ones only when
``--base-url`` is given. Every error a user can cause is one line, never a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sla_digest.exceptions import ConfigError
from sla_digest_cli.common import say as _say

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sla_digest.archive.store import Archive
    from sla_digest.delivery.channel import Channel
    from sla_digest.jobs.report import ReportResult

__all__ = ["TO_HELP", "RangeOrRecipient", "register", "run_range", "verify_reports"]

MAX_RANGE_DAYS = 92
TO_HELP = "recipient (repeatable); a date YYYY-MM-DD ends the --from range"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --------------------------------------------------------------------------------------------
# run --from D1 --to D2
# --------------------------------------------------------------------------------------------


class RangeOrRecipient(argparse.Action):
    """``run --to``: a date (the last day of ``--from``'s range) or a recipient (repeatable).

    The flag was the recipient before ranges existed; an address never looks like a date.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        text = str(values)
        if _DATE.match(text):
            if getattr(namespace, "last", None) is not None:
                parser.error(f"--to {text}: the range's last day is given twice")
            namespace.last = text
            return
        recipients = list(getattr(namespace, self.dest, None) or [])
        namespace.__setattr__(self.dest, [*recipients, text])


def range_days(first: date | None, last: str | None) -> list[date] | None:
    """The days of ``--from``..``--to``, or ``None`` when no range is asked for."""
    from sla_digest.window import parse_date

    if first is None and last is None:
        return None
    if first is None or last is None:
        raise ConfigError("a range needs both --from D1 and --to D2 (YYYY-MM-DD)")
    end = parse_date(last)
    if end < first:
        raise ConfigError(f"--from {first} is after --to {end}")
    count = (end - first).days + 1
    if count > MAX_RANGE_DAYS:
        raise ConfigError(f"--from/--to spans {count} days: run at most {MAX_RANGE_DAYS} at once")
    return [first + timedelta(days=n) for n in range(count)]


def run_range(
    args: argparse.Namespace,
    run_one: Callable[..., Any],
    headline: Callable[[Any], str],
    courier: Callable[..., Any],
    token: Callable[[], str],
    say_receipts: Callable[[argparse.Namespace, Any], None],
) -> int:
    """``run … --from D1 --to D2 --out ROOT``: each day of the range (oldest first, so each finds
    the day before for its trend), for the flags' account or every configured one, into the
    archive layout under ROOT. ``run_one``, ``courier`` and the rest are the CLI's own."""
    from sla_digest.archive import DayArchive, LocalArchive
    from sla_digest.exceptions import SlaDigestError

    days = range_days(args.first, args.last)
    if days is None or args.date is not None:
        raise ConfigError("give either --date D or --from D1 --to D2, not both")
    if args.out is None:
        raise ConfigError("run --from/--to needs --out ROOT (the archive folder)")
    failures, requests = _config_requests(args) if args.config else _flag_requests(args)
    out = Path(args.out)
    store = LocalArchive(out)
    delivery = courier(
        send=args.send, sender=args.sender, outbox=out / "outbox", deliver=args.deliver,
        out=out, nested=True,
    )  # fmt: skip
    secret = token()
    for day in days:
        for request in requests(day):
            before = DayArchive(store, request.account_id, day - timedelta(days=1))
            try:
                result = run_one(
                    request,
                    archive=DayArchive(store, request.account_id, day),
                    previous=before.summary(),
                    args=args,
                    delivery=delivery,
                    token=secret,
                )
            except SlaDigestError as exc:
                failures += 1
                sys.stderr.write(f"sla-digest: error: account {request.account_id} {day}: {exc}\n")
                continue
            failures += not result.summary.source.complete
            _say(f"account {request.account_id} {day}: {headline(result)}")
            say_receipts(args, result)
    _say(f"{len(days)} days written to {out}")
    return 1 if failures else 0


def _flag_requests(args: argparse.Namespace) -> tuple[int, Callable[[date], list[Any]]]:
    """The one account the flags name, checked as ``run`` checks them."""
    from sla_digest.config import SlaTargets, parse_sla_flag, validate_base_url
    from sla_digest.jobs.job import DayRequest
    from sla_digest.window import load_timezone

    flags = (("--base-url", args.base_url), ("--account-id", args.account_id))
    missing = [flag for flag, value in (*flags, ("--timezone", args.timezone)) if value is None]
    if missing:
        raise ConfigError(f"run needs {', '.join(missing)} (or --config accounts.json)")
    load_timezone(args.timezone)
    base_url = validate_base_url(args.base_url, where="--base-url")
    targets = parse_sla_flag(args.sla, basis=args.sla_basis) if args.sla else SlaTargets()
    if args.send and not (args.sender and args.to):
        raise ConfigError("--send needs --sender ADDRESS and at least one --to ADDRESS")

    def requests(day: date) -> list[Any]:
        return [
            DayRequest(
                account_id=args.account_id,
                account_name=args.account_name,
                base_url=base_url,
                timezone=args.timezone,
                day=day,
                targets=targets,
                recipients=tuple(args.to or ()),
            )
        ]

    return 0, requests


def _config_requests(args: argparse.Namespace) -> tuple[int, Callable[[date], list[Any]]]:
    """Every enabled account of ``--config`` (or ``--account-id``); bad entries are counted."""
    from sla_digest.config import load_config
    from sla_digest.jobs.job import DayRequest

    path = Path(args.config)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    config = load_config(data, source=str(path))
    for error in config.errors:
        sys.stderr.write(f"sla-digest: skipped: {error}\n")
    accounts = [a for a in config.accounts if a.enabled]
    if args.account_id is not None:
        accounts = [a for a in accounts if a.account_id == args.account_id]
        if not accounts:
            raise ConfigError(f"account {args.account_id} is not configured (or not enabled)")
    return len(config.errors), lambda day: [DayRequest.for_account(a, day) for a in accounts]


# --------------------------------------------------------------------------------------------
# report --period week|month
# --------------------------------------------------------------------------------------------


def register(
    command: Callable[..., argparse.ArgumentParser],
    day_type: Callable[[str], date],
    id_type: Callable[[str], int],
    templates_dir: Callable[[str | None], Path],
    token: Callable[[], str],
) -> None:
    """The ``report`` subcommand (design, section 15); ``command`` makes a subparser."""
    import functools

    report = command(
        "report",
        help="build a weekly or monthly digest from an archive folder",
        description="Built from the days archived under --archive; missing days are fetched "
        "(token from CHATWOOT_API_TOKEN) and archived there only when --base-url is given.",
    )
    report.add_argument("--period", required=True, help="week or month")
    report.add_argument("--archive", required=True, help="archive folder (or s3://bucket/prefix)")
    report.add_argument("--account-id", required=True, type=id_type, help="Chatwoot account id")
    report.add_argument("--timezone", required=True, help="IANA time zone of the account")
    report.add_argument("--out", required=True, help="where to write the digest's files")
    report.add_argument(
        "--date", type=day_type, help="any day of the period (default: the last complete one)"
    )
    report.add_argument("--week-start", default="monday", help="monday (default) or sunday")
    report.add_argument("--sla", help="targets (default: those the archived days were judged by)")
    report.add_argument("--sla-basis", choices=("calendar", "business_hours"), default="calendar")
    report.add_argument("--base-url", help="Chatwoot URL, to fetch days not archived yet")
    report.add_argument(
        "--deliver",
        metavar="email,slack,teams,webhook",
        help="channels to deliver to, each once (ledger DIR/deliveries.json), as run does; "
        "default: the outbox only",
    )
    report.add_argument("--to", action="append", help="recipient (repeatable)")
    report.add_argument("--send", action="store_true", help="email through SES, not the outbox")
    report.add_argument("--sender", help="From address for --send (an SES-verified identity)")
    report.add_argument(
        "--force", action="store_true", help="deliver again what deliveries.json records as sent"
    )
    report.add_argument("--allow-partial", action="store_true", help="allow a period not yet over")
    report.add_argument("--concurrency", type=id_type, default=8, help="pages in flight")
    report.add_argument("--templates", help="digest templates folder")
    report.set_defaults(
        func=functools.partial(_cmd_report, templates_dir=templates_dir, token=token)
    )


def open_archive_root(location: str, *, may_be_empty: bool) -> tuple[Archive, str]:
    """The archive at ``--archive``; a folder that is not an archive root is refused, saying why."""
    from sla_digest.archive.store import open_archive

    if location.startswith("s3://"):
        return open_archive(location)
    folder = Path(location).expanduser()
    if not folder.exists():
        raise ConfigError(f"--archive {location} does not exist")
    if not folder.is_dir():
        raise ConfigError(f"--archive {location} is not a folder")
    if (folder / "raw" / "manifest.json").is_file():
        raise ConfigError(
            f"--archive {location} is one day's --out folder, not an archive: give the folder "
            "written by `run --from … --to … --out ROOT` (raw/account_id=…/date=…/ inside)"
        )
    entries = [entry.name for entry in folder.iterdir() if not entry.name.startswith(".")]
    if entries and not {"raw", "reports"} & set(entries):
        raise ConfigError(
            f"--archive {location} is not an archive folder: it has no raw/ or reports/ inside"
        )
    if not entries and not may_be_empty:
        raise ConfigError(f"--archive {location} is empty: archive days with run --from/--to")
    return open_archive(str(folder))


def _channels(args: argparse.Namespace, out: Path) -> list[Channel]:
    """As ``run`` delivers: with ``--deliver``, each chosen channel once through
    ``DIR/deliveries.json``; without it, the outbox when there are recipients."""
    from sla_digest.delivery.email import EmailChannel, OutboxMailer, SesMailer
    from sla_digest_cli.channels import local_channels, parse_deliver

    recipients = tuple(args.to or ())
    if args.send and not (args.sender and recipients):
        raise ConfigError("--send needs --sender ADDRESS and at least one --to ADDRESS")

    def email(to: Sequence[str]) -> Channel:
        mailer = SesMailer() if args.send else OutboxMailer(out / "outbox")
        return EmailChannel(mailer, sender=args.sender or "sla-digest@localhost", recipients=to)

    if args.deliver:
        try:
            chosen = parse_deliver(args.deliver)
        except argparse.ArgumentTypeError as exc:
            raise ConfigError(f"--deliver: {exc}") from exc
        return local_channels(chosen, account_id=args.account_id, recipients=recipients,
                              email=email, out=out)  # fmt: skip
    return [email(recipients)] if recipients or args.send else []


def _cmd_report(
    args: argparse.Namespace,
    *,
    templates_dir: Callable[[str | None], Path],
    token: Callable[[], str],
) -> int:
    from sla_digest.archive import LocalArchive
    from sla_digest.chatwoot.client import ChatwootClient
    from sla_digest.config import SlaTargets, parse_sla_flag, validate_base_url
    from sla_digest.jobs.report import ReportPorts, ReportRequest, run_account_period
    from sla_digest.report.periods import (
        last_complete_period,
        parse_period,
        parse_week_start,
        period_of,
    )
    from sla_digest.window import load_timezone

    kind = parse_period(args.period)
    week_start = parse_week_start(args.week_start)
    load_timezone(args.timezone)
    base_url = validate_base_url(args.base_url, where="--base-url") if args.base_url else None
    store, prefix = open_archive_root(args.archive, may_be_empty=base_url is not None)
    targets = (
        parse_sla_flag(args.sla, basis=args.sla_basis)
        if args.sla
        else SlaTargets(basis=args.sla_basis)
    )
    if args.date is not None:
        period = period_of(args.date, kind, week_start)
    else:
        period = last_complete_period(kind, args.timezone, datetime.now(tz=UTC), week_start)
    out = Path(args.out)
    channels = _channels(args, out)
    connect = None
    if base_url is not None:
        url: str = base_url

        def connect() -> ChatwootClient:
            return ChatwootClient(url, token(), concurrency=args.concurrency)

    request = ReportRequest(
        account_id=args.account_id,
        timezone=args.timezone,
        period=period,
        base_url=base_url,
        targets=targets,
        recipients=tuple(args.to or ()),
        day_targets=not args.sla,
    )
    ports = ReportPorts(
        store=store,
        templates_dir=templates_dir(args.templates),
        prefix=prefix,
        connect=connect,
        channels=channels,
    )
    result = run_account_period(request, ports, force=args.force, allow_partial=args.allow_partial)
    _write_out(result, LocalArchive(out))
    _say(_report_line(result))
    _say(f"written to {out} (archived at {result.archive.location()})")
    return 0 if result.summary.source.complete else 1


def _write_out(result: ReportResult, folder: Archive) -> None:
    """``DIR/summary.json``, ``digest.html``, ``digest.txt``, ``digest.csv`` and
    ``breaches.csv``: the same bytes as the archived report."""
    from sla_digest.archive.report import ReportArchive

    flat = ReportArchive(folder, result.archive.account_id, result.archive.period, flat=True)
    flat.write_summary(result.summary.to_dict())
    digest = result.digest
    flat.write_digest(digest.html, digest.text, digest.csv)
    for attachment in digest.attachments:  # breaches.csv
        flat.write_file(
            attachment.filename, attachment.data, content_type="text/csv; charset=utf-8"
        )


def _report_line(result: ReportResult) -> str:
    from sla_digest.report.metrics import HEADLINE
    from sla_digest.report.period_view import period_title
    from sla_digest.report.view import headline

    summary = result.summary
    source = summary.source
    period = result.archive.period
    days = len(source.days or ())
    line = (
        f"account {summary.account_id} {period.kind} {period.start} ({period_title(period)}): "
        f"{source.events:,} events over {days} of {period.days} days; "
        f"{headline(summary.overall.metrics[HEADLINE])}"
    )
    if result.fetched:
        line += f"; fetched and archived {', '.join(str(d) for d in result.fetched)}"
    if source.missing_days:
        line += f" — INCOMPLETE: no data for {', '.join(str(d) for d in source.missing_days)}"
    elif not source.complete:
        line += " — INCOMPLETE: some days are incomplete"
    return line


# --------------------------------------------------------------------------------------------
# verify: reports too
# --------------------------------------------------------------------------------------------


def verify_reports(args: argparse.Namespace) -> int:
    """``verify``'s second half: every report at the location (an archive root), a line each
    and a count; returns how many failed."""
    from sla_digest.archive.verify_report import find_reports, verify_report

    location: str = args.location
    if not location.startswith("s3://") and not (Path(location) / "reports").is_dir():
        return 0
    checked = failed = 0
    for label, report in find_reports(location, account_id=args.account_id, day=args.date):
        checked += 1
        problems = verify_report(report)
        if problems:
            failed += 1
            for problem in problems:
                _say(f"FAIL {label}: {problem}")
        else:
            _say(f"OK   {label}: the report matches the raw pages of its days")
    if checked:
        _say(f"{checked - failed} of {checked} archived reports verified")
    return failed
