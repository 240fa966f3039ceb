"""The shape of the Chatwoot subpackage: paging talks to the transport only through its public
surface, and the package's names load lazily so the summary's import stays cheap."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import sla_digest.chatwoot as chatwoot

PACKAGE = Path(chatwoot.__file__).parent
# Modules that use the transport from outside it: neither may touch its private parts.
TRANSPORT_USERS = [
    "paging.py",
    "client.py",
    "listing.py",
    "csat.py",
    "applied_slas.py",
    "conversations.py",
]


def private_reaches(source: str) -> list[str]:
    """Every ``x._name`` whose ``x`` is not the object's own ``self``/``cls``, and every
    ``from ... import _name``, as ``line: text``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            name = node.attr
            own = isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}
            if name.startswith("_") and not name.startswith("__") and not own:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom):
            found.extend(
                f"{node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.startswith("_")
            )
    return found


def test_the_private_access_check_catches_a_reach_into_the_transport() -> None:
    # GIVEN code that calls a private method through an attribute, reads a private attribute of
    # another object, and imports a private name
    source = (
        "from sla_digest.chatwoot.transport import _describe\n"
        "def f(self, transport):\n"
        "    self.transport._get()\n"
        "    return transport._retry, self._own\n"
    )
    # WHEN it is checked  THEN all three reaches are named, and the object's own attribute is not
    assert private_reaches(source) == [
        "1: import _describe",
        "3: self.transport._get",
        "4: transport._retry",
    ]


@pytest.mark.parametrize("module", TRANSPORT_USERS)
def test_paging_and_the_facade_use_only_public_names_of_other_objects(module: str) -> None:
    # GIVEN the module's source  WHEN every attribute access and import is read
    reaches = private_reaches((PACKAGE / module).read_text(encoding="utf-8"))
    # THEN none reaches into another object's or module's private parts
    assert reaches == []


def test_importing_the_events_module_loads_neither_requests_nor_the_client() -> None:
    # GIVEN a fresh interpreter  WHEN it imports what the summary imports from the package
    probe = (
        "import json, sys\n"
        "import sla_digest.chatwoot.events\n"
        "watched = ['requests', 'sla_digest.chatwoot.client', 'sla_digest.chatwoot.transport',"
        " 'sla_digest.chatwoot.paging']\n"
        "print(json.dumps([name for name in watched if name in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    # THEN nothing of the fetch path was loaded with it
    assert json.loads(done.stdout) == []


def test_reading_archived_links_csat_and_sla_misses_loads_no_fetch_path() -> None:
    # GIVEN a fresh interpreter  WHEN it imports what verify and render read archived bodies with
    probe = (
        "import json, sys\n"
        "import sla_digest.chatwoot.links, sla_digest.chatwoot.csat\n"
        "import sla_digest.chatwoot.applied_slas\n"
        "watched = ['requests', 'sla_digest.chatwoot.transport']\n"
        "print(json.dumps([name for name in watched if name in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    # THEN neither requests nor the transport came with them
    assert json.loads(done.stdout) == []


def test_each_exported_name_resolves_to_the_object_its_module_defines() -> None:
    # GIVEN the package's curated names
    import sla_digest.chatwoot.client as client_module
    import sla_digest.chatwoot.events as events_module

    # WHEN they are looked up on the package  THEN each is the defining module's object
    assert chatwoot.ChatwootClient is client_module.ChatwootClient
    assert chatwoot.classify_rows is events_module.classify_rows
    for name in chatwoot.__all__:
        value = getattr(chatwoot, name)
        assert getattr(value, "__name__", name) == name
    # AND the names are listed by dir(), even before first use
    assert set(chatwoot.__all__) <= set(dir(chatwoot))


def test_an_unknown_name_on_the_package_is_an_attribute_error() -> None:
    # GIVEN the lazily exporting package  WHEN a name it does not export is asked for
    # THEN it says so the ordinary way
    with pytest.raises(AttributeError, match="no attribute 'Transport'"):
        _ = chatwoot.Transport  # type: ignore[attr-defined]
