"""Template fixtures: template.yaml parsed with CloudFormation's short tags, and the pinned
SAM CLI and checkov, each run once per session in their own isolated environments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
UV = ROOT / ".tools" / "bin" / "uv"
SAM_CLI = "aws-sam-cli==1.170.0"  # the Makefile's pins
CHECKOV = "checkov==3.3.30"

# lambda-builders asks pip only for manylinux 2014/2_17/2_28/2_34 arm64 wheels, but some locked
# dependencies (css-inline) publish manylinux_2_24_aarch64 only; Lambda's python3.13 runtime has
# glibc 2.34, so those wheels are valid and pip may take them. (With Docker,
# `sam build --use-container` needs none of this.)
ARM64_WHEELS = {
    "PIP_ONLY_BINARY": ":all:",
    "PIP_PLATFORM": "manylinux2014_aarch64 manylinux_2_17_aarch64 manylinux_2_24_aarch64 "
    "manylinux_2_28_aarch64 manylinux_2_34_aarch64",
}


class _CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that reads ``!Ref`` & co. as the JSON form CloudFormation uses."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_CloudFormationLoader)
    return document


def _tool_environment() -> dict[str, str]:
    """Fake credentials and region (the tools never reach AWS), and python3.13 first on PATH:
    the venv's, then the interpreter it was made from (which has pip, as ``sam build`` needs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PIP_"))}
    python = subprocess.run(
        [str(ROOT / "scripts" / "find-python")], capture_output=True, text=True, check=False
    ).stdout.strip()
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_REGION="eu-west-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        SAM_CLI_TELEMETRY="0",
        UV_PYTHON_DOWNLOADS="never",
        PATH=os.pathsep.join(
            [str(ROOT / ".venv" / "bin"), str(Path(sys.base_prefix) / "bin"), env.get("PATH", "")]
        ),
    )
    if python:
        env["UV_PYTHON"] = python
    return env


def _run(
    *args: str, extra_env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    if not UV.exists():
        pytest.skip("the pinned tools need .tools/bin/uv: run `make test` (it installs it)")
    env = _tool_environment() | (extra_env or {})
    return subprocess.run(
        [str(UV), "tool", "run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="session")
def sam_validate() -> subprocess.CompletedProcess[str]:
    return _run("--from", SAM_CLI, "sam", "validate", "--template-file", str(TEMPLATE))


@pytest.fixture(scope="session")
def sam_lint() -> subprocess.CompletedProcess[str]:
    return _run("--from", SAM_CLI, "sam", "validate", "--lint", "--template-file", str(TEMPLATE))


@pytest.fixture(scope="session")
def sam_build(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``sam build`` into a temporary folder (never the repository's .aws-sam).

    Run from that folder and uncached: a cached build keeps dependencies in ./.aws-sam/deps.
    """
    work = tmp_path_factory.mktemp("sam-build")
    build_dir = work / "build"
    result = _run(
        "--from",
        SAM_CLI,
        "sam",
        "build",
        "--no-cached",
        "--template-file",
        str(TEMPLATE),
        "--build-dir",
        str(build_dir),
        "--cache-dir",
        str(work / "cache"),
        extra_env=ARM64_WHEELS,
        cwd=work,
    )
    return result, build_dir


@pytest.fixture(scope="session")
def checkov(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """checkov's JSON report on template.yaml (offline: no guideline download)."""
    report = tmp_path_factory.mktemp("checkov")
    result = _run(
        CHECKOV,
        "--file",
        str(TEMPLATE),
        "--framework",
        "cloudformation",
        "--skip-download",
        "--output",
        "json",
        "--output-file-path",
        str(report),
    )
    return result, report / "results_json.json"
