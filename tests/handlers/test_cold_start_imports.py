"""What a cold start of each handler loads, in the environment Lambda's runtime gives it.

``make bench`` measures the import time; these tests pin the shape that keeps it low, and they
need no timing: tracing is on with only the AWS SDK patched, the batch utility and the job's
code wait for the first invocation, and what a job needs only when it fetches, summarises or
renders a day is not loaded until it does.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks.coldstart import lambda_environment
from tests.handlers.conftest import ROOT

# Run inside the child: import the handler as Lambda's runtime does, then report what is loaded.
PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import app
import botocore.client
import wrapt
watched = sys.argv[2:]
print(json.dumps({
    "tracing": not app.tracer.disabled,
    "botocore_patched": isinstance(
        vars(botocore.client.BaseClient)["_make_api_call"], wrapt.FunctionWrapper
    ),
    "loaded": sorted(name for name in watched if name in sys.modules),
}))
"""
# Libraries Tracer's default (patch everything X-Ray supports) would import.
UNPATCHED = ["requests", "sqlite3", "httpx"]
# What only a job that fetches, summarises or renders a day needs.
LOADED_ON_USE = [
    "requests",
    "jinja2",
    "css_inline",
    "jsonschema",
    "sla_digest.chatwoot.client",
    "sla_digest.chatwoot.transport",
    "sla_digest.chatwoot.paging",
    "sla_digest.report.render",
    "sla_digest.report.summary",
    "sla_digest.delivery.email",
    "sla_digest.delivery.http",
    "sla_digest.delivery.slack",
    "sla_digest.delivery.teams",
    "sla_digest.delivery.webhook",
    "sla_digest.delivery.configured",
]


# What each handler's first invocation loads: Powertools' batch utility (with every event data
# class) and the job's code down to the config and its schema.
LOADED_BY_THE_FIRST_INVOCATION = {
    "digest": [
        "aws_lambda_powertools.utilities.batch",
        "aws_lambda_powertools.utilities.data_classes",
        "sla_digest.jobs.record",
        "sla_digest.jobs.run",
        "sla_digest.jobs.job",
        "sla_digest.config",
        "sla_digest.config_schema",
    ],
    "dispatch": [
        "sla_digest.jobs.dispatch",
        "sla_digest.jobs.job",
        "sla_digest.config",
        "sla_digest.config_schema",
    ],
}
# Run inside the child: import the handler, then a module the first invocation loads, and log.
LOG_PROBE = """
import logging, sys
sys.path.insert(0, sys.argv[1])
import app
import sla_digest.jobs.job
logging.getLogger("sla_digest.jobs.job").info("loaded after the cold start")
"""


def _run(program: str, function: str, *arguments: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", program, str(ROOT / "functions" / function), *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=lambda_environment(function),
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def _cold_start(function: str, watched: list[str]) -> dict[str, object]:
    result: dict[str, object] = json.loads(_run(PROBE, function, *watched).splitlines()[-1])
    return result


@pytest.mark.parametrize("function", ["digest", "dispatch"])
def test_in_lambda_tracing_is_on_and_patches_only_the_aws_sdk(function: str) -> None:
    # GIVEN Lambda's runtime environment  WHEN the handler module is imported
    report = _cold_start(function, UNPATCHED)
    # THEN AWS calls are traced and no other library was imported for patching
    assert report["tracing"] is True
    assert report["botocore_patched"] is True
    assert report["loaded"] == []


def test_the_digest_handler_loads_the_client_summary_and_renderer_only_when_a_job_needs_them() -> (
    None
):
    # GIVEN Lambda's runtime environment  WHEN the digest handler is imported
    report = _cold_start("digest", LOADED_ON_USE)
    # THEN nothing of the fetch, summary or render path is loaded yet
    assert report["loaded"] == []


@pytest.mark.parametrize("function", ["digest", "dispatch"])
def test_the_batch_utility_and_the_job_code_wait_for_the_first_invocation(function: str) -> None:
    # GIVEN Lambda's runtime environment  WHEN the handler module is imported
    report = _cold_start(function, LOADED_BY_THE_FIRST_INVOCATION[function])
    # THEN only Powertools' Logger, Metrics, Tracer and the AWS edge are loaded, none of these
    assert report["loaded"] == []


@pytest.mark.parametrize("function", ["digest", "dispatch"])
def test_a_module_loaded_after_the_cold_start_logs_through_the_handler_logger(
    function: str,
) -> None:
    # GIVEN a handler imported in Lambda's runtime environment
    # WHEN a module its first invocation loads writes a log record
    output = _run(LOG_PROBE, function)
    # THEN the record comes out once, as the handler Logger's JSON line, service and name in it
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    ours = [line for line in lines if line.get("message") == "loaded after the cold start"]
    assert len(ours) == 1, output
    assert ours[0]["service"] == "sla-digest"
    assert ours[0]["name"] == "sla_digest.jobs.job"
    assert ours[0]["level"] == "INFO"
