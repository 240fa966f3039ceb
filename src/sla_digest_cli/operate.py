"""Operate a deployed stack from a terminal: ``invoke``, ``backfill``, ``redrive``, ``status``.

Everything goes through boto3 with the operator's own credentials (``--profile``, ``--region``
or the usual AWS environment). The stack's resources are found by name from its CloudFormation
outputs and parameters, so nothing needs copying from the console. ``invoke`` and ``backfill``
send the dispatch function the same manual and backfill events as ``events/*.json`` (for
``sam remote invoke`` users); ``redrive`` moves failed jobs from the dead-letter queue back to
the jobs queue; ``status`` reads the archive: per account, the last archived day, the last
delivery, the permanent failures on record, what is overdue, and the queues' depth.
``--period week|month`` makes ``invoke`` and ``backfill`` ask for weeks or months instead of
days (the events' ``"period"``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sla_digest.exceptions import ConfigError, SlaDigestError
from sla_digest.jobs.dispatch import BACKFILL_LIMIT_DAYS
from sla_digest.report.periods import PERIOD_KINDS
from sla_digest_cli.common import date_arg, positive_int
from sla_digest_cli.stack import (
    OperatorClients,
    Stack,
    StackError,
    aws_call,
    read_stack_config,
    resolve_stack,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from sla_digest.report.periods import PeriodKind

__all__ = [
    "BACKFILL_CHUNK_DAYS",
    "Redrive",
    "backfill",
    "backfill_events",
    "invoke",
    "manual_event",
    "redrive",
    "register",
]

BACKFILL_CHUNK_DAYS = BACKFILL_LIMIT_DAYS  # the most days one backfill event may hold


# --------------------------------------------------------------------------------------------
# invoke and backfill: the dispatch function's manual and backfill events
# --------------------------------------------------------------------------------------------


def invoke_dispatch(stack: Stack, event: dict[str, Any], *, clients: OperatorClients) -> Any:
    """Invoke the dispatch function synchronously; its failure is one line naming the reason."""
    response = aws_call(
        f"invoking {stack.dispatch_function}",
        lambda: clients.lambda_.invoke(
            FunctionName=stack.dispatch_function,
            InvocationType="RequestResponse",
            Payload=json.dumps(event).encode(),
        ),
    )
    payload = response["Payload"].read()
    try:
        result = json.loads(payload) if payload else None
    except ValueError:
        result = None
    if response.get("FunctionError"):
        reason = result.get("errorMessage") if isinstance(result, dict) else None
        raise StackError(f"the dispatch function refused the request: {reason or 'see its log'}")
    return result


def manual_event(
    account_id: int,
    day: date,
    *,
    force: bool = False,
    deliver: bool = True,
    period: PeriodKind = "day",
) -> dict[str, Any]:
    """The manual event of design §9 (``events/manual-run.json``), plus ``deliver`` if false
    and ``period`` if not a day (``events/manual-weekly.json``)."""
    event: dict[str, Any] = {"accounts": [account_id]}
    if period != "day":
        event["period"] = period
    event.update(date=day.isoformat(), force=force)
    if not deliver:
        event["deliver"] = False
    return event


def backfill_events(
    first: date,
    last: date,
    *,
    account_id: int | None = None,
    force: bool = False,
    deliver: bool = True,
    period: PeriodKind = "day",
) -> list[dict[str, Any]]:
    """Backfill events covering ``first``..``last``, at most 92 days each.

    With a ``period`` each event queues the weeks or months whose first day lies in its own
    range, so every period starting in ``first``..``last`` is queued exactly once.
    """
    if first > last:
        raise ConfigError(f"--from {first} is after --to {last}")
    events = []
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=BACKFILL_CHUNK_DAYS - 1))
        event: dict[str, Any] = {"from": start.isoformat(), "to": end.isoformat()}
        if period != "day":
            event["period"] = period
        if account_id is not None:
            event["accounts"] = [account_id]
        if force:
            event["force"] = True
        if not deliver:
            event["deliver"] = False
        events.append(event)
        start = end + timedelta(days=1)
    return events


def invoke(
    stack: Stack,
    account_id: int,
    day: date | None,
    *,
    clients: OperatorClients,
    force: bool = False,
    deliver: bool = True,
    now: datetime | None = None,
    period: PeriodKind = "day",
) -> Any:
    """Queue one account-day (or week, month) now.

    ``day`` defaults to yesterday in the account's time zone; for a week or month, to the first
    day of the last one that has ended there (by the account's ``week_start``).
    """
    if day is None:
        from sla_digest.report.periods import last_complete_period

        account = read_stack_config(stack, clients=clients).account(account_id)
        moment = now or datetime.now(tz=UTC)
        day = last_complete_period(period, account.timezone, moment, account.week_start).start
    event = manual_event(account_id, day, force=force, deliver=deliver, period=period)
    return invoke_dispatch(stack, event, clients=clients)


def backfill(
    stack: Stack,
    first: date,
    last: date,
    *,
    clients: OperatorClients,
    account_id: int | None = None,
    deliver: bool = True,
    force: bool = False,
    period: PeriodKind = "day",
) -> list[Any]:
    """Queue every day (or week, month starting) in ``first``..``last`` (all enabled
    accounts, or one)."""
    events = backfill_events(
        first, last, account_id=account_id, force=force, deliver=deliver, period=period
    )
    return [invoke_dispatch(stack, event, clients=clients) for event in events]


# --------------------------------------------------------------------------------------------
# redrive
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Redrive:
    """What ``redrive`` moved: the count, and the jobs by name (``7/2026-11-20``)."""

    moved: int
    jobs: list[str]


def redrive(stack: Stack, *, clients: OperatorClients, limit: int | None = None) -> Redrive:
    """Move the jobs dead-letter queue's messages back to the jobs queue, bodies unchanged.

    Each message is sent to the jobs queue before it is deleted from the dead-letter queue, so
    an interruption can only duplicate a job (the digest side delivers once), never lose one.
    """
    sqs = clients.sqs
    moved: list[str] = []
    while limit is None or len(moved) < limit:
        want = 10 if limit is None else min(10, limit - len(moved))
        received = aws_call(
            "reading the jobs dead-letter queue",
            partial(
                sqs.receive_message,
                QueueUrl=stack.jobs_dlq_url,
                MaxNumberOfMessages=want,
                WaitTimeSeconds=1,
                VisibilityTimeout=60,
            ),
        )
        messages = received.get("Messages", [])
        if not messages:
            break
        entries = [
            {"Id": str(i), "MessageBody": message["Body"]} for i, message in enumerate(messages)
        ]
        sent = aws_call(
            "sending to the jobs queue",
            partial(sqs.send_message_batch, QueueUrl=stack.jobs_queue_url, Entries=entries),
        )
        done = {item["Id"] for item in sent.get("Successful", [])}
        if not done:
            failed = sent.get("Failed", [{}])[0]
            raise StackError(f"the jobs queue refused the messages: {failed.get('Code', '?')}")
        delete = [
            {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]}
            for i, message in enumerate(messages)
            if str(i) in done
        ]
        aws_call(
            "deleting moved messages from the dead-letter queue",
            partial(sqs.delete_message_batch, QueueUrl=stack.jobs_dlq_url, Entries=delete),
        )
        moved.extend(
            _job_label(message["Body"]) for i, message in enumerate(messages) if str(i) in done
        )
    return Redrive(moved=len(moved), jobs=moved)


def _job_label(body: str) -> str:
    from sla_digest.jobs.job import DigestJob

    try:
        job = DigestJob.from_body(body)
    except SlaDigestError:
        return "(not a job body)"
    return job.name + ("" if job.deliver else " (archive only)")


# --------------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# The commands
# --------------------------------------------------------------------------------------------


def clients_for(args: argparse.Namespace) -> OperatorClients:
    """The operator's clients for the parsed flags (tests replace this)."""
    return OperatorClients(profile=args.profile, region=args.region)


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _stack(args: argparse.Namespace) -> tuple[Stack, OperatorClients]:
    clients = clients_for(args)
    return resolve_stack(args.stack, clients=clients), clients


def _report_dispatch(result: Any, period: str = "day") -> None:
    if not isinstance(result, dict):
        _say(f"dispatch answered: {result!r}")
        return
    jobs = result.get("jobs") or []
    _say(f"queued {result.get('queued', 0)} job(s): {', '.join(jobs) if jobs else 'none'}")
    for problem in result.get("problems") or []:
        _say(f"left out: {problem}")
    if result.get("skipped"):
        why = "that are disabled" if period == "day" else f"disabled, or where no {period} starts"
        _say(f"skipped {result['skipped']} account(s) {why} (the dispatch log says)")


def _cmd_invoke(args: argparse.Namespace) -> int:
    stack, clients = _stack(args)
    result = invoke(
        stack,
        args.account_id,
        args.date,
        clients=clients,
        force=args.force,
        deliver=not args.no_deliver,
        period=args.period,
    )
    _report_dispatch(result, args.period)
    return 0 if isinstance(result, dict) and result.get("queued") else 1


def _cmd_backfill(args: argparse.Namespace) -> int:
    stack, clients = _stack(args)
    events = backfill_events(
        args.first,
        args.last,
        account_id=args.account_id,
        force=args.force,
        deliver=not args.archive_only,
        period=args.period,
    )
    for event in events:  # each result is said before the next event, so a refusal is placed
        _say(f"{event['from']} .. {event['to']}:")
        _report_dispatch(invoke_dispatch(stack, event, clients=clients), args.period)
    return 0


def _cmd_redrive(args: argparse.Namespace) -> int:
    stack, clients = _stack(args)
    result = redrive(stack, clients=clients, limit=args.limit)
    _say(
        f"moved {result.moved} job(s) from the dead-letter queue to the jobs queue"
        + (f": {', '.join(result.jobs)}" if result.jobs else "")
    )
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from sla_digest_cli.status import stack_status

    stack, clients = _stack(args)
    for line in stack_status(stack, clients=clients, account_id=args.account_id):
        _say(line)
    return 0


def add_stack_flags(parser: argparse.ArgumentParser) -> None:
    """``--stack`` with ``--profile`` and ``--region``: every command on a stack takes them."""
    parser.add_argument("--stack", required=True, help="the deployed stack's name")
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE or default)")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION or the profile's)")


def _add_period_flag(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument(
        "--period", choices=PERIOD_KINDS, default="day", help=f"{text} (default: day)"
    )


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``invoke``, ``backfill``, ``redrive`` and ``status`` to the ``sla-digest`` parser."""
    run = command(
        "invoke",
        help="queue one account-day (or week, month) on a deployed stack now",
        description="Invokes the stack's dispatch function with a manual event.",
    )
    add_stack_flags(run)
    run.add_argument("--account-id", type=positive_int, required=True)
    _add_period_flag(run, "what to queue: the day, or the week or month that --date starts")
    run.add_argument(
        "--date",
        type=date_arg,
        help="YYYY-MM-DD; a week's or month's first day (default: yesterday there, or the "
        "last week or month that has ended there)",
    )
    run.add_argument("--force", action="store_true", help="send again even if sent already")
    run.add_argument(
        "--no-deliver", action="store_true", help="archive and summarise only, send nothing"
    )
    run.set_defaults(func=_cmd_invoke)

    fill = command(
        "backfill",
        help="queue a range of days (or weeks, months) on a deployed stack",
        description="Invokes the dispatch function with backfill events of at most 92 days.",
    )
    add_stack_flags(fill)
    fill.add_argument("--from", dest="first", type=date_arg, required=True, metavar="D1")
    fill.add_argument("--to", dest="last", type=date_arg, required=True, metavar="D2")
    _add_period_flag(fill, "queue every day, or every week or month that starts from D1 to D2")
    fill.add_argument("--account-id", type=positive_int, help="only this account")
    fill.add_argument(
        "--archive-only", action="store_true", help="archive and summarise, send nothing"
    )
    fill.add_argument("--force", action="store_true", help="run days already done again")
    fill.set_defaults(func=_cmd_backfill)

    move = command(
        "redrive", help="move failed jobs from the dead-letter queue back to the jobs queue"
    )
    add_stack_flags(move)
    move.add_argument("--limit", type=positive_int, help="move at most this many")
    move.set_defaults(func=_cmd_redrive)

    show = command(
        "status", help="per account: last archived day, last delivery, failures; the queues"
    )
    add_stack_flags(show)
    show.add_argument("--account-id", type=positive_int, help="only this account")
    show.set_defaults(func=_cmd_status)
