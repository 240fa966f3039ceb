"""template.yaml against the events dataset: the Glue table reads the files the code writes,
and the saved Athena queries are exactly the files in queries/."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sla_digest.dataset.table import (
    COLUMNS,
    DATASET_ROOT,
    DATE_FORMAT,
    PARTITION_COLUMNS,
    TIMESTAMP_FORMAT,
    dataset_prefix,
)

ROOT = Path(__file__).resolve().parents[2]
QUERIES = sorted((ROOT / "queries").glob("*.sql"))
GLUE_TYPES = {"bigint": "bigint", "varchar": "string", "double": "double", "timestamp": "timestamp"}

pytestmark = pytest.mark.template


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in template["Resources"].items() if body["Type"] == kind}


def the_table(template: dict[str, Any]) -> dict[str, Any]:
    [table] = resources_of(template, "AWS::Glue::Table").values()
    found: dict[str, Any] = table["Properties"]["TableInput"]
    return found


def sub_text(value: Any) -> str:
    assert isinstance(value, dict), value
    assert isinstance(value.get("Fn::Sub"), str), value
    return str(value["Fn::Sub"])


# --- the table and the key layout ---------------------------------------------------------


def test_partition_projection_finds_the_folders_the_dataset_is_written_to(
    template: dict[str, Any],
) -> None:
    # GIVEN the table's location template, with CloudFormation's ${!…} escapes undone
    parameters = the_table(template)["Parameters"]
    location = sub_text(parameters["storage.location.template"]).replace("${!", "${")
    # WHEN its placeholders are filled the way partition projection fills them
    day = date(2026, 11, 20)
    assert parameters["projection.date.format"] == DATE_FORMAT == "yyyy-MM-dd"
    filled = location.replace("${account_id}", "7").replace("${date}", day.isoformat())
    # THEN it is the folder the code writes that account-day to, in the archive bucket
    assert filled == "s3://${ArchiveBucket}/" + dataset_prefix(7, day)
    storage = the_table(template)["StorageDescriptor"]
    assert sub_text(storage["Location"]) == "s3://${ArchiveBucket}/" + DATASET_ROOT


def test_every_partition_column_is_projected_so_no_crawler_is_needed(
    template: dict[str, Any],
) -> None:
    table = the_table(template)
    parameters = table["Parameters"]
    # GIVEN the partition keys THEN each has a projection, and no crawler exists
    assert parameters["projection.enabled"] == "true"
    keys = [(key["Name"], key["Type"]) for key in table["PartitionKeys"]]
    assert keys == [(name, GLUE_TYPES[kind]) for name, kind in PARTITION_COLUMNS]
    for name, _ in keys:
        assert f"projection.{name}.type" in parameters
    assert parameters["projection.account_id.type"] == "injected"  # ids are not known ahead
    assert parameters["projection.date.range"].endswith(",NOW")
    assert not resources_of(template, "AWS::Glue::Crawler")


def test_the_table_has_the_contract_columns_in_file_order(template: dict[str, Any]) -> None:
    storage = the_table(template)["StorageDescriptor"]
    columns = [(column["Name"], column["Type"]) for column in storage["Columns"]]
    assert columns == [(name, GLUE_TYPES[kind]) for name, kind in COLUMNS]


def test_the_table_reads_gzip_json_lines_with_the_written_timestamp_form(
    template: dict[str, Any],
) -> None:
    table = the_table(template)
    serde = table["StorageDescriptor"]["SerdeInfo"]
    assert serde["SerializationLibrary"] == "org.apache.hive.hcatalog.data.JsonSerDe"
    assert serde["Parameters"]["timestamp.formats"] == TIMESTAMP_FORMAT
    assert table["Parameters"]["compressionType"] == "gzip"
    # AND that pattern is the one the files hold: 2026-11-20T09:01:36.412Z
    pattern = TIMESTAMP_FORMAT.replace("'", "")
    assert len(pattern) == len("2026-11-20T09:01:36.412Z")


# --- the workgroup ------------------------------------------------------------------------


def test_the_workgroup_enforces_encrypted_results_and_a_scan_cutoff(
    template: dict[str, Any],
) -> None:
    [group] = resources_of(template, "AWS::Athena::WorkGroup").values()
    config = group["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "QueryBytesScannedCutoff"}
    assert template["Parameters"]["QueryBytesScannedCutoff"]["MinValue"] >= 10_000_000
    results = config["ResultConfiguration"]
    assert results["EncryptionConfiguration"]["EncryptionOption"] in {"SSE_S3", "SSE_KMS"}
    output = sub_text(results["OutputLocation"])
    assert re.fullmatch(r"s3://\$\{ArchiveBucket\}/[a-z-]+/", output)
    # AND query results expire: a lifecycle rule on exactly that prefix
    prefix = output.removeprefix("s3://${ArchiveBucket}/")
    bucket = template["Resources"]["ArchiveBucket"]["Properties"]
    rules = {rule.get("Prefix"): rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert isinstance(rules[prefix]["ExpirationInDays"], int)


def test_the_stack_outputs_the_workgroup_name(template: dict[str, Any]) -> None:
    [name] = resources_of(template, "AWS::Athena::WorkGroup")
    outputs = template["Outputs"]
    assert outputs["QueryWorkGroupName"]["Value"] == {"Ref": name}


def test_the_digest_function_may_write_the_dataset(template: dict[str, Any]) -> None:
    statements = [
        statement
        for policy in template["Resources"]["DigestFunction"]["Properties"]["Policies"]
        for statement in policy["Statement"]
    ]
    writable = {
        sub_text(resource)
        for statement in statements
        if "s3:PutObject" in statement["Action"]
        for resource in statement["Resource"]
    }
    assert "${ArchiveBucket.Arn}/" + DATASET_ROOT.split("/")[0] + "/*" in writable


# --- the saved queries --------------------------------------------------------------------


def test_there_is_one_saved_query_per_file_in_queries(template: dict[str, Any]) -> None:
    named = resources_of(template, "AWS::Athena::NamedQuery")
    assert QUERIES, "queries/ holds the SQL files"
    assert sorted(body["Properties"]["Name"] for body in named.values()) == sorted(
        path.stem for path in QUERIES
    )


@pytest.mark.parametrize("path", QUERIES, ids=lambda path: path.name)
def test_each_saved_query_is_the_files_text_exactly(template: dict[str, Any], path: Path) -> None:
    # GIVEN the saved query named after the file
    named = resources_of(template, "AWS::Athena::NamedQuery").values()
    [query] = [body["Properties"] for body in named if body["Properties"]["Name"] == path.stem]
    # THEN its text is the file's, byte for byte, run against the events table's database
    assert query["QueryString"] == path.read_text(encoding="utf-8"), (
        f"paste {path.name} into template.yaml again"
    )
    [database] = resources_of(template, "AWS::Glue::Database")
    [group] = resources_of(template, "AWS::Athena::WorkGroup")
    assert query["Database"] == {"Ref": database}
    assert query["WorkGroup"] == {"Ref": group}
