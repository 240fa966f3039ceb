"""The pinned SAM CLI and checkov accept template.yaml, and `sam build` makes an arm64 layer.

Slow the first time (the tools install into their own environments), then cached; each tool
runs once per session.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

# One worker runs them all, so each tool runs once even under pytest-xdist.
pytestmark = [pytest.mark.template, pytest.mark.xdist_group("sam-tools")]

AARCH64 = 0xB7  # ELF e_machine of 64-bit ARM


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def test_sam_validate_accepts_the_template(
    sam_validate: subprocess.CompletedProcess[str],
) -> None:
    assert sam_validate.returncode == 0, explain(sam_validate)
    assert "is a valid SAM Template" in sam_validate.stdout + sam_validate.stderr


def test_sam_validate_lint_finds_nothing(sam_lint: subprocess.CompletedProcess[str]) -> None:
    assert sam_lint.returncode == 0, explain(sam_lint)
    assert "is a valid SAM Template" in sam_lint.stdout + sam_lint.stderr


def test_sam_build_succeeds(sam_build: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, build_dir = sam_build

    assert result.returncode == 0, explain(result)
    assert (build_dir / "template.yaml").is_file()


def test_the_built_functions_hold_their_handlers(
    sam_build: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, build_dir = sam_build

    for function in ("DispatchFunction", "DigestFunction"):
        assert "def lambda_handler(" in (build_dir / function / "app.py").read_text()


def test_the_shared_layer_holds_the_package_its_data_and_its_dependencies(
    sam_build: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, build_dir = sam_build
    python = build_dir / "SharedLayer" / "python"

    assert (python / "sla_digest" / "__init__.py").is_file()
    assert list((python / "sla_digest").rglob("*.schema.json")), "the summary schema is missing"
    for package in ("aws_lambda_powertools", "jinja2", "requests", "css_inline", "tzdata"):
        assert (python / package).is_dir(), package


def test_the_shared_layer_holds_no_local_only_code(
    sam_build: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    # GIVEN every file of the built layer
    _, build_dir = sam_build
    python = build_dir / "SharedLayer" / "python"
    files = [path.relative_to(python) for path in python.rglob("*") if path.is_file()]
    ours = [path for path in files if path.parts[0] == "sla_digest"]
    # THEN the runtime package is there, and nothing of the local side: no CLI, sandbox or
    # demo package or module, no moto, and no module of ours that imports moto
    assert ours
    assert not [path for path in files if path.parts[0] in ("sla_digest_cli", "moto")]
    local_names = {"cli", "cli.py", "sandbox", "sandbox.py", "demo.py", "sandbox_data.py"}
    assert not [path for path in ours if local_names & set(path.parts)]
    for path in ours:
        if path.suffix == ".py":
            text = (python / path).read_text(encoding="utf-8")
            assert "import moto" not in text, path
            assert "from moto" not in text, path


def test_every_native_library_in_the_layer_is_built_for_arm64(
    sam_build: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    # GIVEN the compiled extensions in the built layer
    _, build_dir = sam_build
    libraries = list((build_dir / "SharedLayer" / "python").rglob("*.so"))

    # THEN there are some, and each is an ELF for 64-bit ARM (e_machine at bytes 18-19)
    assert libraries
    for library in libraries:
        header = library.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", library.name
        assert int.from_bytes(header[18:20], "little") == AARCH64, library.name


def test_checkov_finds_no_failed_check(
    checkov: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, report_path = checkov
    assert report_path.is_file(), explain(result)
    report = json.loads(report_path.read_text())

    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 0


def test_checkov_skips_only_with_a_written_reason(
    checkov: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, report_path = checkov
    assert report_path.is_file(), explain(result)
    report = json.loads(report_path.read_text())

    skipped = report["results"]["skipped_checks"]
    assert skipped
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason.split()) >= 5, check["check_id"]
