"""``sla-digest``: the pipeline from a terminal, with files instead of S3 and SES.

Errors a user can cause end with one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sla_digest.exceptions import ConfigError, SlaDigestError, VerificationError
from sla_digest_cli import report_cmd
from sla_digest_cli.common import EXIT_ERROR, EXIT_USAGE, TOKEN_VARIABLE
from sla_digest_cli.common import date_arg as _date_arg
from sla_digest_cli.common import positive_int as _positive_int
from sla_digest_cli.common import say as _say
from sla_digest_cli.common import templates_dir as _templates_dir
from sla_digest_cli.common import token as _token
from sla_digest_cli.dataset_cmd import add_dataset_parser
from sla_digest_cli.doctor import register as register_doctor
from sla_digest_cli.operate import register as register_operator_commands
from sla_digest_cli.query import add_query_parser

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sla_digest.archive import DayArchive
    from sla_digest.delivery.channel import Channel
    from sla_digest.jobs.job import DayRequest, RunResult

__all__ = ["main"]

logger = logging.getLogger(__name__)

SANDBOX_PORT = 3901  # not 3000, where a Chatwoot development server listens
RENDER_OUT = "rendered"  # render's folder when --out is not given (and --check is not either)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


class ProgressBar:
    """Pages fetched, drawn on one terminal line; silent when stderr is not a terminal."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self._stream = stream
        self._label = label
        self._enabled = stream.isatty()
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled or total <= 0:
            return
        width = 30
        filled = min(width, round(width * done / total))
        bar = "#" * filled + "." * (width - filled)
        self._stream.write(f"\r{self._label} [{bar}] {done}/{total} pages")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


def _deliver_arg(text: str) -> tuple[str, ...]:
    from sla_digest_cli.channels import parse_deliver

    return parse_deliver(text)


def _headline(result: RunResult) -> str:
    from sla_digest.report.metrics import HEADLINE
    from sla_digest.report.view import headline

    source = result.summary.source
    complete = "" if source.complete else f" — INCOMPLETE: {source.missing} rows missing"
    follow_up = result.summary.follow_up
    links = (
        ""
        if follow_up is None
        else f"; {follow_up.links.requests} extra requests for links "
        f"(budget {follow_up.links.budget})"
    )
    return (
        f"{source.events} events in {source.pages} pages; "
        f"{headline(result.summary.overall.metrics[HEADLINE])}{links}{complete}"
    )


# --------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Delivery:
    """Where ``run`` hands the finished digest: the outbox folder, or SES with --send;
    with --deliver, the chosen channels through ``DIR/deliveries.json``."""

    send: bool
    sender: str | None
    outbox: Path
    deliver: tuple[str, ...] = ()
    out: Path | None = None
    nested: bool = False

    def channels(self, recipients: Sequence[str], account_id: int = 0) -> list[Channel]:
        """With --deliver, the chosen channels; else the email channel when there is someone
        to send to (or --send asks for it)."""
        from sla_digest.delivery.email import EmailChannel, OutboxMailer, SesMailer

        def email(to: Sequence[str]) -> Channel:
            mailer = SesMailer() if self.send else OutboxMailer(self.outbox)
            sender = self.sender or "sla-digest@localhost"
            return EmailChannel(mailer, sender=sender, recipients=to)

        if self.deliver and self.out is not None:
            from sla_digest_cli.channels import local_channels

            return local_channels(
                self.deliver, account_id=account_id, recipients=recipients, email=email,
                out=self.out, nested=self.nested,
            )  # fmt: skip
        if not (recipients or self.send):
            return []
        return [email(recipients)]


def _run_one(
    request: DayRequest,
    *,
    archive: DayArchive,
    previous: Any,
    args: argparse.Namespace,
    delivery: _Delivery,
    token: str,
) -> RunResult:
    from sla_digest.chatwoot.client import ChatwootClient
    from sla_digest.jobs.run import Ports, run_account_day

    bar = ProgressBar(sys.stderr, f"account {request.account_id} {request.day}")
    try:
        with ChatwootClient(request.base_url, token, concurrency=args.concurrency) as client:
            ports = Ports(
                client=client,
                archive=archive,
                templates_dir=_templates_dir(args.templates),
                channels=delivery.channels(request.recipients, request.account_id),
                progress=bar,
            )
            return run_account_day(
                request, ports, previous=previous, allow_partial=args.allow_partial,
                force=args.force,
            )  # fmt: skip
    finally:
        bar.close()


def _say_receipts(args: argparse.Namespace, result: RunResult) -> None:
    if args.deliver:
        from sla_digest_cli.channels import describe

        for line in describe(result.receipts):
            _say(f"  {line}")


def _cmd_run(args: argparse.Namespace) -> int:
    if args.first is not None or args.last is not None:  # --from D1 --to D2: several days
        return report_cmd.run_range(args, _run_one, _headline, _Delivery, _token, _say_receipts)
    if args.config:
        return _run_config(args)
    missing = [
        flag
        for flag, value in (
            ("--base-url", args.base_url),
            ("--account-id", args.account_id),
            ("--timezone", args.timezone),
            ("--out", args.out),
        )
        if value is None
    ]
    if missing:
        raise ConfigError(f"run needs {', '.join(missing)} (or --config accounts.json)")
    return _run_flags(args)


def _run_flags(args: argparse.Namespace) -> int:
    from sla_digest.archive import DayArchive, LocalArchive
    from sla_digest.config import SlaTargets, parse_sla_flag, validate_base_url
    from sla_digest.jobs.job import DayRequest
    from sla_digest.window import load_timezone, previous_day

    token = _token()
    load_timezone(args.timezone)
    base_url = validate_base_url(args.base_url, where="--base-url")
    day = args.date or previous_day(datetime.now(tz=UTC), args.timezone)
    targets = parse_sla_flag(args.sla, basis=args.sla_basis) if args.sla else SlaTargets()
    if args.send and not (args.sender and args.to):
        raise ConfigError("--send needs --sender ADDRESS and at least one --to ADDRESS")
    out = Path(args.out)
    request = DayRequest(
        account_id=args.account_id,
        account_name=args.account_name,
        base_url=base_url,
        timezone=args.timezone,
        day=day,
        targets=targets,
        recipients=tuple(args.to or ()),
    )
    archive = DayArchive(LocalArchive(out), args.account_id, day, flat=True)
    delivery = _Delivery(
        send=args.send, sender=args.sender, outbox=out / "outbox", deliver=args.deliver, out=out
    )
    result = _run_one(
        request, archive=archive, previous=None, args=args, delivery=delivery, token=token
    )
    _say(f"account {args.account_id} {day}: {_headline(result)}")
    _say_receipts(args, result)
    _say(f"written to {out}")
    return 0 if result.summary.source.complete else EXIT_ERROR


def _run_config(args: argparse.Namespace) -> int:
    from sla_digest.archive import DayArchive, LocalArchive
    from sla_digest.config import load_config
    from sla_digest.jobs.job import DayRequest
    from sla_digest.window import previous_day

    if args.out is None:
        raise ConfigError("run --config needs --out DIR")
    path = Path(args.config)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    config = load_config(data, source=str(path))
    failures = len(config.errors)
    for error in config.errors:
        sys.stderr.write(f"sla-digest: skipped: {error}\n")
    accounts = [a for a in config.accounts if a.enabled]
    if args.account_id is not None:
        accounts = [a for a in accounts if a.account_id == args.account_id]
        if not accounts:
            raise ConfigError(f"account {args.account_id} is not configured (or not enabled)")
    token = _token()
    if any(account.token_secret for account in accounts):
        # Said once: every account names a secret, and none of them is read here.
        sys.stderr.write(
            f"sla-digest: note: token_secret is not used by a local run; the token comes "
            f"from {TOKEN_VARIABLE}\n"
        )
    store = LocalArchive(Path(args.out))
    delivery = _Delivery(
        send=args.send, sender=args.sender, outbox=Path(args.out) / "outbox",
        deliver=args.deliver, out=Path(args.out), nested=True,
    )  # fmt: skip
    for account in accounts:
        day = args.date or previous_day(datetime.now(tz=UTC), account.timezone)
        request = DayRequest.for_account(account, day)
        previous = DayArchive(store, account.account_id, day - timedelta(days=1)).summary()
        try:
            result = _run_one(
                request,
                archive=DayArchive(store, account.account_id, day),
                previous=previous,
                args=args,
                delivery=delivery,
                token=token,
            )
        except SlaDigestError as exc:
            failures += 1
            sys.stderr.write(f"sla-digest: error: account {account.account_id}: {exc}\n")
            continue
        _say(f"account {account.account_id} {day}: {_headline(result)}")
        _say_receipts(args, result)
    _say(f"written to {args.out}")
    return EXIT_ERROR if failures else 0


# --------------------------------------------------------------------------------------------
# verify and render: the archive alone
# --------------------------------------------------------------------------------------------


def _cmd_verify(args: argparse.Namespace) -> int:
    from sla_digest.archive.verify import find_days, verify_day

    failed = 0
    checked = 0
    for label, day in find_days(args.location, account_id=args.account_id, day=args.date):
        checked += 1
        problems = verify_day(day)
        if problems:
            failed += 1
            for problem in problems:
                _say(f"FAIL {label}: {problem}")
        else:
            manifest = day.manifest() or {}
            _say(
                f"OK   {label}: {len(manifest.get('pages', []))} pages match the manifest and "
                "the summary matches the raw pages"
            )
    _say(f"{checked - failed} of {checked} archived days verified")
    return EXIT_ERROR if report_cmd.verify_reports(args) or failed else 0


def _first_difference(archived: tuple[str, str], rendered: tuple[str, str]) -> str:
    """Where two digests first differ, so a person can tell a changed figure from a changed
    layout (a day archived by an earlier release was rendered by its templates)."""
    for name, old, new in zip(("digest.html", "digest.txt"), archived, rendered, strict=True):
        old_lines, new_lines = old.splitlines(), new.splitlines()
        for number, (was, now) in enumerate(zip(old_lines, new_lines, strict=False), start=1):
            if was != now:
                return (
                    f"     first difference: {name} line {number}: archived {_clip(was)!r}, "
                    f"re-rendered {_clip(now)!r} (figures are checked by verify; a layout change "
                    "means the day was rendered by another release's templates)"
                )
        if len(old_lines) != len(new_lines):
            return (
                f"     first difference: {name} has {len(old_lines)} lines archived, "
                f"{len(new_lines)} re-rendered"
            )
    return "     the digests differ only in line endings"


def _clip(line: str, width: int = 60) -> str:
    line = line.strip()
    return line if len(line) <= width else line[: width - 1] + "…"


def _cmd_render(args: argparse.Namespace) -> int:
    from sla_digest.archive.verify import find_days
    from sla_digest.report.render import render_digest
    from sla_digest.report.summary import Summary

    days = list(find_days(args.location, account_id=args.account_id, day=args.date))
    if len(days) != 1:
        raise ConfigError(
            f"{args.location} holds {len(days)} archived days: choose one with --account-id "
            "and --date"
        )
    label, day = days[0]
    summary = day.summary()
    if summary is None:
        raise ConfigError(f"{label}: no summary.json to render from")
    digest = render_digest(
        Summary.from_dict(summary),
        templates_dir=_templates_dir(args.templates),
        archive_location=day.location(),
    )
    if args.check:
        archived = day.digest()
        if archived is None:
            raise VerificationError([f"{label}: no archived digest to compare with"])
        same = archived == (digest.html, digest.text)
        _say(
            f"{'OK  ' if same else 'FAIL'} {label}: re-rendered digest "
            f"{'is identical to' if same else 'differs from'} the archived one"
        )
        if not same:
            _say(_first_difference(archived, (digest.html, digest.text)))
            return EXIT_ERROR
        if args.out is None:
            return 0  # compared in memory; no folder was asked for, so nothing is written
    out = Path(args.out or RENDER_OUT)
    out.mkdir(parents=True, exist_ok=True)
    (out / "digest.html").write_text(digest.html, encoding="utf-8")
    (out / "digest.txt").write_text(digest.text, encoding="utf-8")
    (out / digest.csv_filename).write_bytes(digest.csv)
    breaches = day.attachment("breaches.csv")
    if breaches is not None:
        (out / "breaches.csv").write_bytes(breaches)
    _say(f"{label}: digest re-rendered from the archive into {out}")
    return 0


# --------------------------------------------------------------------------------------------
# demo and sandbox
# --------------------------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    from sla_digest_cli.demo import run_demo

    return run_demo(Path(args.out), templates_dir=_templates_dir(args.templates), say=_say)


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from sla_digest_cli.sandbox.server import SandboxOptions, serve

    options = SandboxOptions(
        events=args.events,
        latency=args.latency,
        fault_rate=args.fault_rate,
        shuffle_ties=args.shuffle_ties,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
    )

    def ready(base_url: str) -> None:
        _say(
            f"sandbox Chatwoot on {base_url} — account {options.account_id}, "
            f"day {options.day} ({options.timezone}), admin token {options.admin_token!r}"
        )
        _say("press Ctrl-C to stop")

    serve(options, port=args.port, ready=ready)
    return 0


# --------------------------------------------------------------------------------------------
# Parser and entry point
# --------------------------------------------------------------------------------------------


VERBOSE_HELP = "log each step (fetch, archive, summary, render, delivery) to stderr"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chatwoot-sla-digest")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sla-digest",
        description="Daily SLA digests for Chatwoot accounts, run locally.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # -v also after the command (`sla-digest run -v …`); SUPPRESS keeps the global one's value.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP
    )
    command = functools.partial(commands.add_parser, parents=[verbose])

    run = command(
        "run",
        help="fetch, archive, summarise and render one account-day (or every configured account)",
        description=f"The Chatwoot token is read from {TOKEN_VARIABLE}, never from a flag.",
    )
    run.add_argument("--config", help="accounts.json (instead of the single-account flags)")
    run.add_argument("--base-url", help="Chatwoot URL, e.g. https://app.chatwoot.com")
    run.add_argument("--account-id", type=_positive_int, help="Chatwoot account id")
    run.add_argument("--account-name", help="name shown in the digest")
    run.add_argument("--date", type=_date_arg, help="report day YYYY-MM-DD (default: yesterday)")
    run.add_argument("--from", dest="first", type=_date_arg, help="first day of a range (--to D2)")
    run.add_argument("--timezone", help="IANA time zone of the account, e.g. Europe/Berlin")
    run.add_argument("--out", help="output folder")
    run.add_argument("--sla", help="targets: first_response=30m,reply_time=1h,...")
    run.add_argument(
        "--sla-basis",
        choices=("calendar", "business_hours"),
        default="calendar",
        help="measure SLA targets on calendar time (default) or business hours",
    )
    run.add_argument(
        "--concurrency", type=_positive_int, default=8, help="pages in flight (default 8)"
    )
    run.add_argument("--allow-partial", action="store_true", help="allow a day not yet over")
    run.add_argument("--send", action="store_true", help="send through SES instead of the outbox")
    run.add_argument("--sender", help="From address for --send (an SES-verified identity)")
    run.add_argument("--to", action=report_cmd.RangeOrRecipient, help=report_cmd.TO_HELP)
    run.add_argument(
        "--deliver",
        type=_deliver_arg,
        default=(),
        metavar="email,slack,teams,webhook",
        help="channels to deliver to, each once (ledger DIR/deliveries.json); hook URLs from "
        "SLA_DIGEST_SLACK_URL, SLA_DIGEST_TEAMS_URL, SLA_DIGEST_WEBHOOK_URL (+ "
        "SLA_DIGEST_WEBHOOK_SECRET); default: the outbox only",
    )
    run.add_argument(
        "--force", action="store_true", help="deliver again what deliveries.json records as sent"
    )
    run.add_argument("--templates", help="digest templates folder")
    run.set_defaults(func=_cmd_run, last=None)

    demo = command(
        "demo", help="run the whole pipeline against the bundled sandbox (no AWS, no network)"
    )
    demo.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    demo.add_argument("--templates", help="digest templates folder")
    demo.set_defaults(func=_cmd_demo)

    for name, func, text in (
        ("verify", _cmd_verify, "re-check archived days against their manifests"),
        ("render", _cmd_render, "re-render a digest from an archived day, without Chatwoot"),
    ):
        sub = command(name, help=text)
        sub.add_argument(
            "location", help="an --out folder, an archive folder or s3://bucket/prefix"
        )
        sub.add_argument("--account-id", type=_positive_int, help="only this account")
        sub.add_argument("--date", type=_date_arg, help="only this day")
        if name == "render":
            sub.add_argument(
                "--out",
                help=f"where to write the digest (default {RENDER_OUT}; with --check, "
                "nothing is written unless --out is given)",
            )
            sub.add_argument(
                "--check",
                action="store_true",
                help="fail unless the result is byte-for-byte the archived digest",
            )
            sub.add_argument("--templates", help="digest templates folder")
        sub.set_defaults(func=func)

    sandbox = command("sandbox", help="serve the sandbox Chatwoot on 127.0.0.1")
    sandbox.add_argument(
        "--port",
        type=int,
        default=SANDBOX_PORT,
        help=f"port on 127.0.0.1 (default {SANDBOX_PORT}; 3000 is Chatwoot's own dev server)",
    )
    sandbox.add_argument("--events", type=_positive_int, default=600)
    sandbox.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    sandbox.add_argument("--fault-rate", type=float, default=0.0)
    sandbox.add_argument("--shuffle-ties", action="store_true")
    sandbox.add_argument("--rate-limit", type=int, help="requests per window before 429")
    sandbox.add_argument(
        "--rate-window",
        type=float,
        default=1.0,
        help="seconds of a rate-limit window (Chatwoot counts per 60)",
    )
    sandbox.set_defaults(func=_cmd_sandbox)

    report_cmd.register(command, _date_arg, _positive_int, _templates_dir, _token)
    add_query_parser(commands)
    add_dataset_parser(commands, day_type=_date_arg, id_type=_positive_int)
    register_doctor(command)
    register_operator_commands(command)
    return parser


def _configure_logging(*, verbose: bool) -> None:
    """Our packages' log lines on stderr: warnings always, each step with ``-v``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    )
    for name in ("sla_digest", "sla_digest_cli"):
        package = logging.getLogger(name)
        package.handlers[:] = [handler]
        package.setLevel(logging.INFO if verbose else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(verbose=args.verbose)
    try:
        code: int = args.func(args)
    except SlaDigestError as exc:
        sys.stderr.write(f"sla-digest: error: {exc}\n")
        return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("sla-digest: interrupted\n")
        return 130
    except OSError as exc:
        sys.stderr.write(f"sla-digest: error: {exc.strerror or exc}: {exc.filename or ''}\n")
        return EXIT_ERROR
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
