"""Preparing the renderer ahead of a run's end: the same digest, and the same errors, as without.

A run loads Jinja2, the inliner and the templates on a thread while its fetch waits; what goes
wrong there must still be reported by ``render_digest``, where a run always reported it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sla_digest.exceptions import RenderError
from sla_digest.report.render import prepare_renderer, render_digest
from sla_digest.report.schema import prepare_validator, summary_problems
from sla_digest.report.summary import Summary

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
SUMMARY = ROOT / "tests" / "fixtures" / "summaries" / "acme-2026-11-20.json"
ARCHIVE = "s3://acme-archive/raw/account_id=7/date=2026-11-20/"


def _summary() -> Summary:
    return Summary.from_dict(json.loads(SUMMARY.read_text(encoding="utf-8")))


def test_a_prepared_renderer_renders_the_same_digest_as_a_fresh_copy_of_the_templates(
    tmp_path: Path,
) -> None:
    # GIVEN two copies of the templates, one prepared and one never seen before
    prepared, fresh = tmp_path / "prepared", tmp_path / "fresh"
    shutil.copytree(TEMPLATES, prepared)
    shutil.copytree(TEMPLATES, fresh)
    prepare_renderer(prepared)
    # WHEN the same summary is rendered from each
    first = render_digest(_summary(), templates_dir=prepared, archive_location=ARCHIVE)
    second = render_digest(_summary(), templates_dir=fresh, archive_location=ARCHIVE)
    # THEN the digests are the same, byte for byte
    assert (first.html, first.text, first.csv) == (second.html, second.text, second.csv)


def test_preparing_a_missing_templates_folder_leaves_the_error_to_the_render(
    tmp_path: Path,
) -> None:
    # GIVEN a templates folder that does not exist
    missing = tmp_path / "nowhere"
    # WHEN it is prepared, nothing is raised
    prepare_renderer(missing)
    # THEN rendering from it fails with the message a run has always given
    with pytest.raises(RenderError, match="does not exist"):
        render_digest(_summary(), templates_dir=missing, archive_location=ARCHIVE)


def test_preparing_a_broken_template_leaves_the_error_to_the_render(tmp_path: Path) -> None:
    # GIVEN a copy of the templates whose HTML template does not parse
    broken = tmp_path / "broken"
    shutil.copytree(TEMPLATES, broken)
    (broken / "digest.html.j2").write_text("{% if %}", encoding="utf-8")
    # WHEN it is prepared, nothing is raised
    prepare_renderer(broken)
    # THEN the render names the template that failed
    with pytest.raises(RenderError, match=r"digest\.html\.j2"):
        render_digest(_summary(), templates_dir=broken, archive_location=ARCHIVE)


def test_a_prepared_validator_still_names_what_is_wrong_with_a_summary() -> None:
    # GIVEN the validator built ahead of use
    prepare_validator()
    # WHEN a summary without its schema version is checked
    document = json.loads(SUMMARY.read_text(encoding="utf-8"))
    del document["schema_version"]
    # THEN the missing field is named
    assert any("schema_version" in problem for problem in summary_problems(document))
