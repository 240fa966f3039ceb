"""The layer's requirements come from the lock, and the package ships what it needs at run time."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "bin" / "uv"


def _pins(text: str) -> list[str]:
    return sorted(
        line.split(";")[0].strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


@pytest.mark.skipif(not UV.exists(), reason="uv is installed by the Makefile")
def test_layer_requirements_are_generated_from_the_lock(tmp_path: Path) -> None:
    # GIVEN the lock file WHEN uv exports the runtime dependencies the way `make requirements` does
    target = tmp_path / "requirements.txt"
    subprocess.run(
        [str(UV), "export", "--frozen", "--no-default-groups", "--no-emit-project",
         "--no-hashes", "--quiet", "-o", str(target)],
        cwd=ROOT, check=True, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )  # fmt: skip
    # THEN the committed file pins exactly the same packages and versions
    committed = (ROOT / "layers" / "shared" / "requirements.txt").read_text()
    assert _pins(committed) == _pins(target.read_text()), "run `make requirements`"


def test_the_summary_schema_ships_inside_the_package() -> None:
    import sla_digest

    schema = Path(sla_digest.__file__).parent / "report" / "schemas" / "summary.schema.json"
    assert schema.is_file()


def test_the_runtime_requirements_include_every_direct_dependency() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {
        pin.split("==")[0].lower().replace("_", "-")
        for pin in _pins((ROOT / "layers" / "shared" / "requirements.txt").read_text())
    }
    for requirement in project["dependencies"]:
        name = requirement.split("[")[0].split(">")[0].split("=")[0].strip().lower()
        assert name.replace("_", "-") in pinned, f"{name} missing from the layer"


def test_local_only_dependencies_never_reach_the_layer() -> None:
    import tomllib

    # GIVEN the local-only dependency group (DuckDB for `sla-digest query`, sqlglot for tests)
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    local = {item.split(">")[0].split("=")[0].strip().lower() for item in groups["local"]}
    assert {"duckdb", "sqlglot"} <= local
    # WHEN the layer's requirements are read
    pinned = {
        pin.split("==")[0].lower()
        for pin in _pins((ROOT / "layers" / "shared" / "requirements.txt").read_text())
    }
    # THEN none of them is there, and `make requirements` leaves every default group out
    assert not local & pinned
    makefile = (ROOT / "Makefile").read_text()
    assert "export --frozen --no-default-groups" in makefile
