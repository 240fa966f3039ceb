"""Handler-test support: a fake Lambda context, the Powertools environment, fresh handler modules.

Each test loads the handler module anew, as a cold start does, so module-level state (settings,
clients, Powertools objects) never leaks from one test into the next.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.fixtures.aws import set_template_globals

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


@dataclass
class FakeLambdaContext:
    """The attributes Powertools reads from the real context object."""

    function_name: str = "sla-digest-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:sla-digest-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/sla-digest-test"
    log_stream_name: str = "2026/11/21/[$LATEST]0123456789"
    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture(autouse=True)
def _powertools_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the template's Globals set for both functions."""
    set_template_globals(monkeypatch, log_level="INFO")


@pytest.fixture
def load_handler() -> Callable[[str], ModuleType]:
    """Import ``functions/<name>/app.py`` as a new module (a cold start)."""

    def load(name: str) -> ModuleType:
        # A real cold start has a fresh interpreter: forget the Powertools logger a previous
        # test configured, so the new one writes to this test's captured stdout.
        logging.Logger.manager.loggerDict.pop("sla-digest", None)
        path = ROOT / "functions" / name / "app.py"
        spec = importlib.util.spec_from_file_location(f"{name}_app_{uuid.uuid4().hex}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def sample_event() -> Callable[[str], Any]:
    """A sample event from ``events/``: the same files ``sam local invoke`` is given."""
    return lambda name: json.loads((EVENTS / name).read_text())


@pytest.fixture
def json_lines() -> Callable[[str], list[dict[str, Any]]]:
    """Every line of captured output that is a JSON object (Powertools logs and metrics)."""
    return lambda text: [json.loads(line) for line in text.splitlines() if line.startswith("{")]
