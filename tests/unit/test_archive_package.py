"""The archive package's public surface: curated, and loaded only as far as it is used."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import sla_digest.archive

SUBMODULES = ("day", "manifest", "store", "verify")


def _loaded_after(statement: str) -> list[str]:
    """The archive submodules and AWS libraries a fresh interpreter holds after ``statement``."""
    watched = [f"sla_digest.archive.{name}" for name in SUBMODULES] + ["boto3", "botocore"]
    code = (
        "import json, sys\n"
        f"{statement}\n"
        f"print(json.dumps([name for name in {watched!r} if name in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_package_loads_none_of_its_submodules() -> None:
    # GIVEN a fresh interpreter  WHEN the package is imported
    loaded = _loaded_after("import sla_digest.archive")
    # THEN no submodule (and no AWS library) was loaded with it
    assert loaded == []


def test_importing_the_store_loads_neither_the_other_submodules_nor_botocore() -> None:
    # GIVEN a fresh interpreter  WHEN only the store module is imported
    loaded = _loaded_after("import sla_digest.archive.store")
    # THEN the day layout, manifest and verify stay unloaded, and so does the AWS SDK
    assert loaded == ["sla_digest.archive.store"]


def test_asking_for_one_name_loads_only_the_modules_that_name_needs() -> None:
    # GIVEN a fresh interpreter  WHEN one name of the store is taken from the package
    loaded = _loaded_after("from sla_digest.archive import LocalArchive")
    # THEN only the store was loaded
    assert loaded == ["sla_digest.archive.store"]


def test_every_public_name_is_the_object_its_submodule_defines() -> None:
    # GIVEN the public names each submodule declares
    declared: dict[str, object] = {}
    for name in SUBMODULES:
        module = importlib.import_module(f"sla_digest.archive.{name}")
        declared.update({item: getattr(module, item) for item in module.__all__})
    # WHEN each name of the package's surface is looked up
    # THEN it is that same object
    for item in sla_digest.archive.__all__:
        assert getattr(sla_digest.archive, item) is declared[item], item


def test_dir_lists_the_public_surface_before_anything_is_loaded() -> None:
    # GIVEN the package  WHEN dir() is asked  THEN it lists exactly the curated names
    assert dir(sla_digest.archive) == sorted(sla_digest.archive.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    # GIVEN the package  WHEN a name it does not export is asked for  THEN AttributeError
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = sla_digest.archive.no_such_thing  # type: ignore[attr-defined]
