"""Cold start: importing each handler in a fresh interpreter, against importing boto3 alone.

Each figure is the best of ``import_repeats`` fresh interpreters, timed inside the child around
the import statement (so interpreter start-up is not counted), the statements taking turns.
Bytecode is compiled once into a private cache first (``-X pycache_prefix``), as a deployed
package has it; nothing is written into the project.

The child gets the environment the template sets, fake credentials and the variables Lambda's
runtime sets (``LAMBDA_TASK_ROOT``, the X-Ray daemon address, ...). That matters: Powertools
turns tracing on only inside Lambda, and the X-Ray SDK then patches the traced libraries and
uses its local sampler; outside Lambda it would instead build botocore clients for a sampling
poller Lambda never runs, and the figure would measure a cold start that never happens. (The
X-Ray SDK, as in Lambda, marks its start in ``/tmp/.aws-xray``.)

A handler imports Powertools' Logger, Metrics and Tracer and the AWS edge; the batch utility,
the job's code and what only some jobs need load with the first invocation. So each handler
has a second, informative figure that adds what a run imports (the digest: the batch and
idempotency utilities, requests, the Chatwoot client, the renderer with Jinja2 and the CSS
inliner, jsonschema, mail, the archive; the dispatch: its planning code, the config with
jsonschema, the archive's markers): deferring an import moves its cost into the first
invocation that needs it, so this sum is the price of a cold start whose job does its work,
whatever the import order.
"""

from __future__ import annotations

import os
import sys
import tempfile

from . import ROOT, Figure, Profile, child_output

__all__ = [
    "HANDLER_ENVIRONMENT",
    "LAMBDA_RUNTIME_ENVIRONMENT",
    "import_seconds",
    "lambda_environment",
    "measure",
]

BOUND = 1.3  # × importing boto3 alone, for each handler
HANDLER_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "benchmark",
    "AWS_SECRET_ACCESS_KEY": "benchmark",
    "AWS_SESSION_TOKEN": "benchmark",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "sla-digest",
    "POWERTOOLS_METRICS_NAMESPACE": "SlaDigest",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "ARCHIVE_BUCKET": "sla-digest-benchmark",
    "CONFIG_KEY": "config/accounts.json",
    "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/sla-digest-jobs",
    "IDEMPOTENCY_TABLE": "sla-digest-idempotency",
    "SENDER_ADDRESS": "digest@example.com",
    "TEMPLATES_DIR": str(ROOT / "templates"),
}
# What Lambda's python3.13 runtime sets before it imports the handler, besides the function's
# name, LAMBDA_TASK_ROOT (its folder) and the per-invocation trace id.
LAMBDA_RUNTIME_ENVIRONMENT = {
    "_HANDLER": "app.lambda_handler",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "TZ": ":UTC",
}
HANDLER = "import app"
BOTO3 = "import boto3"
# What a run imports after the handler, by function: the modules its first invocation loads.
WHOLE_RUN = {
    "digest": (
        "import app, aws_lambda_powertools.utilities.batch,"
        " aws_lambda_powertools.utilities.idempotency, aws_lambda_powertools.utilities.parameters,"
        " requests, jinja2, css_inline, jsonschema, sla_digest.jobs.record,"
        " sla_digest.chatwoot.client, sla_digest.report.render, sla_digest.report.summary,"
        " sla_digest.delivery.configured, sla_digest.delivery.email, sla_digest.delivery.once,"
        " sla_digest.archive.store, sla_digest.archive.day, sla_digest.dataset.day,"
        " sla_digest.jobs.follow_up, sla_digest.jobs.failure"
    ),
    "dispatch": (
        "import app, jsonschema, sla_digest.jobs.dispatch, sla_digest.config,"
        " sla_digest.archive.store, sla_digest.archive.day, sla_digest.archive.report,"
        " sla_digest.jobs.run, sla_digest.jobs.failure"
    ),
}
_PROGRAM = (
    "import sys, time\n"
    "sys.path.insert(0, {folder!r})\n"
    "started = time.perf_counter()\n"
    "{statement}\n"
    "print(time.perf_counter() - started)\n"
)


def lambda_environment(function: str = "digest") -> dict[str, str]:
    """This process's environment as a cold start of ``functions/<function>/`` sees it.

    The template's variables, fake credentials and Lambda's runtime variables replace any
    AWS, Powertools or Lambda setting of the machine; no AWS config file is read.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "POWERTOOLS_", "LAMBDA_", "_X_AMZN"))
    }
    environment |= HANDLER_ENVIRONMENT | LAMBDA_RUNTIME_ENVIRONMENT
    environment["AWS_LAMBDA_FUNCTION_NAME"] = f"sla-digest-{function.capitalize()}Function"
    environment["LAMBDA_TASK_ROOT"] = str(ROOT / "functions" / function)
    environment["AWS_CONFIG_FILE"] = os.devnull
    environment["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return environment


def _once(function: str, statement: str, cache: str) -> float:
    environment = lambda_environment(function)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment["PYTHONPYCACHEPREFIX"] = cache
    program = _PROGRAM.format(folder=str(ROOT / "functions" / function), statement=statement)
    last = child_output(
        [sys.executable, "-c", program],
        environment=environment,
        timeout=120,
        failure=f"{statement!r} failed in a fresh interpreter of functions/{function}",
    )
    return float(last)


def import_seconds(statements: list[tuple[str, str]], *, repeats: int, cache: str) -> list[float]:
    """Best wall time of each ``(function, statement)`` over ``repeats`` fresh interpreters each.

    The statements take turns within each round, so a burst of load elsewhere on the machine
    hits them alike. A first, unmeasured round fills the bytecode cache; with ``repeats`` 0 that
    round is the figure (compiling included).
    """
    rounds = [[_once(function, statement, cache) for function, statement in statements]]
    rounds += [
        [_once(function, statement, cache) for function, statement in statements]
        for _ in range(repeats)
    ]
    measured = rounds[1:] or rounds
    return [min(times) for times in zip(*measured, strict=True)]


def measure(profile: Profile) -> list[Figure]:
    repeats = profile.import_repeats
    statements = [("digest", BOTO3)]
    for function in ("digest", "dispatch"):
        statements += [(function, HANDLER), (function, WHOLE_RUN[function])]
    with tempfile.TemporaryDirectory(prefix="sla-digest-pycache-") as cache:
        boto3, *handlers = import_seconds(statements, repeats=repeats, cache=cache)
    figures = [
        Figure(
            key="import_boto3_seconds",
            label="cold start: import boto3 alone",
            value=boto3,
            unit="s",
            detail=f"best of {repeats} fresh interpreters, bytecode cached",
        )
    ]
    for function, handler, whole in zip(
        ("digest", "dispatch"), handlers[::2], handlers[1::2], strict=True
    ):
        prefix = "" if function == "digest" else "dispatch_"
        figures += [
            Figure(
                key=f"import_{prefix}handler_seconds",
                label=f"cold start: import the {function} handler",
                value=handler,
                unit="s",
                bound=BOUND * boto3,
                detail=f"{handler / boto3:.2f} × importing boto3 alone; bound {BOUND} ×",
            ),
            Figure(
                key=f"import_{prefix}whole_run_seconds",
                label=f"cold start: {function} handler + what a run imports",
                value=whole,
                unit="s",
                bound=boto3,
                checked=False,
            ),
        ]
    return figures
