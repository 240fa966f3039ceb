"""``-v`` shows each step of a run on stderr; ``--version`` names the installed release."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sla_digest_cli.cli import main

if TYPE_CHECKING:
    from sla_digest_cli.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("fetching reporting events", "events in", "events dataset archived", "digest written")


def _run(server: SandboxServer, out: Path, *flags: str) -> int:
    return main(
        [
            *flags,
            "run",
            "--base-url", server.base_url,
            "--account-id", str(server.options.account_id),
            "--date", "2026-11-20",
            "--timezone", "Europe/Berlin",
            "--out", str(out),
            "--to", "leads@example.com",
        ]
    )  # fmt: skip


@pytest.mark.parametrize("where", ["before the command", "after the command"])
def test_verbose_logs_every_step_to_stderr(
    sandbox_factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd, where: str
) -> None:
    # GIVEN a sandbox and the -v flag, before or after `run`
    server = sandbox_factory(events=120)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", server.options.admin_token)
    out = tmp_path / "day"
    # WHEN the day is run
    if where == "before the command":
        code = _run(server, out, "-v")
    else:
        code = main(
            ["run", "-v", "--base-url", server.base_url, "--account-id", "7",
             "--date", "2026-11-20", "--timezone", "Europe/Berlin", "--out", str(out),
             "--to", "leads@example.com"]
        )  # fmt: skip
    # THEN stderr names each step in order, and the delivery with its outbox file
    err = capfd.readouterr().err
    assert code == 0
    positions = [err.find(step) for step in STEPS]
    assert -1 not in positions, err
    assert positions == sorted(positions)
    assert "delivered by email" in err
    assert server.options.admin_token not in err


def test_without_verbose_a_run_logs_nothing(
    sandbox_factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd
) -> None:
    # GIVEN the same run without -v
    server = sandbox_factory(events=120)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", server.options.admin_token)
    # WHEN it runs THEN stderr holds none of the step lines
    assert _run(server, tmp_path / "day") == 0
    err = capfd.readouterr().err
    assert not [step for step in STEPS if step in err]


def test_version_prints_the_release_of_pyproject(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the version pyproject.toml declares
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    # WHEN asked for the version THEN it is printed and the command exits 0
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"sla-digest {declared}"
