"""Cold start: importing the digest handler in a fresh interpreter, against importing boto3 alone.

Each figure is the best of ``import_repeats`` fresh interpreters, timed inside the child around
the import statement (so interpreter start-up is not counted), the three statements taking
turns. Bytecode is compiled once into
a private cache first (``-X pycache_prefix``), as a deployed package has it; nothing is written
into the project. The handler gets the environment its template sets and fake credentials;
outside Lambda, Powertools leaves tracing off (no patching), so the figure is a lower bound of
what Lambda's init phase does.

A third, informative figure adds what a run imports later (requests, Jinja2, the CSS inliner,
jsonschema, the pipeline and mail modules): deferring an import moves its cost into the first
invocation, so this sum is the real price of a cold start, whatever the import order.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from . import ROOT, BenchmarkError, Figure, Profile

__all__ = ["HANDLER_ENVIRONMENT", "import_seconds", "measure"]

BOUND = 1.5
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
HANDLER = "import app"
BOTO3 = "import boto3"
WHOLE_RUN = (
    "import app, requests, jinja2, css_inline, jsonschema, sla_digest.pipeline, sla_digest.mail"
)
_PROGRAM = (
    "import sys, time\n"
    "sys.path.insert(0, {folder!r})\n"
    "started = time.perf_counter()\n"
    "{statement}\n"
    "print(time.perf_counter() - started)\n"
)


def _environment(cache: str) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "POWERTOOLS_", "LAMBDA_", "_X_AMZN"))
        and name not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    environment.update(HANDLER_ENVIRONMENT)
    environment["AWS_CONFIG_FILE"] = os.devnull
    environment["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    environment["PYTHONPYCACHEPREFIX"] = cache
    return environment


def _once(statement: str, environment: dict[str, str]) -> float:
    program = _PROGRAM.format(folder=str(ROOT / "functions" / "digest"), statement=statement)
    completed = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        lines = completed.stderr.strip().splitlines() or ["no error output"]
        raise BenchmarkError(f"{statement!r} failed in a fresh interpreter: {lines[-1]}")
    return float(completed.stdout.strip().splitlines()[-1])


def import_seconds(statements: list[str], *, repeats: int, cache: str) -> list[float]:
    """Best wall time of each statement over ``repeats`` rounds of fresh interpreters.

    The statements take turns within each round, so a burst of load elsewhere on the machine
    hits them alike. A first, unmeasured round fills the bytecode cache; with ``repeats`` 0 that
    round is the figure (compiling included).
    """
    environment = _environment(cache)
    rounds = [[_once(statement, environment) for statement in statements]]
    rounds += [[_once(statement, environment) for statement in statements] for _ in range(repeats)]
    measured = rounds[1:] or rounds
    return [min(times) for times in zip(*measured, strict=True)]


def measure(profile: Profile) -> list[Figure]:
    repeats = profile.import_repeats
    with tempfile.TemporaryDirectory(prefix="sla-digest-pycache-") as cache:
        boto3, handler, whole = import_seconds(
            [BOTO3, HANDLER, WHOLE_RUN], repeats=repeats, cache=cache
        )
    return [
        Figure(
            key="import_boto3_seconds",
            label="cold start: import boto3 alone",
            value=boto3,
            unit="s",
            detail=f"best of {repeats} fresh interpreters, bytecode cached",
        ),
        Figure(
            key="import_handler_seconds",
            label="cold start: import the digest handler",
            value=handler,
            unit="s",
            bound=BOUND * boto3,
            detail=f"{handler / boto3:.2f} × importing boto3 alone; bound 1.5 ×",
        ),
        Figure(
            key="import_whole_run_seconds",
            label="cold start: handler + what a run imports",
            value=whole,
            unit="s",
            bound=boto3,
            checked=False,
        ),
    ]
