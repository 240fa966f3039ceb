"""template.yaml, read as data: the contract and the operational promises the README makes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sla_digest.jobs.dispatch import parse_event

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.template

# design §9: exactly these, in both functions
CONTRACT_VARIABLES = {
    "ARCHIVE_BUCKET",
    "CONFIG_KEY",
    "JOBS_QUEUE_URL",
    "IDEMPOTENCY_TABLE",
    "SENDER_ADDRESS",
    "TEMPLATES_DIR",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}
FUNCTIONS = ("DispatchFunction", "DigestFunction")


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"][name]
    return props


def statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    found = []
    for policy in resource(template, function)["Properties"]["Policies"]:
        found.extend(policy["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def sub_text(value: Any) -> str:
    """The text of a !Sub (plain or with variables), or '' for anything else."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return ""


# --- layout --------------------------------------------------------------------------------


def test_sections_come_in_the_documented_order(template: dict[str, Any]) -> None:
    sections = [k for k in template if k in {"Parameters", "Conditions", "Globals", "Resources"}]
    sections += [k for k in template if k == "Outputs"]

    assert sections == ["Parameters", "Conditions", "Globals", "Resources", "Outputs"]
    assert list(template)[-1] == "Outputs"


def test_every_parameter_and_output_has_a_description(template: dict[str, Any]) -> None:
    for section in ("Parameters", "Outputs"):
        for name, body in template[section].items():
            assert str(body.get("Description", "")).strip(), f"{section}.{name}"


def test_functions_run_python_3_13_on_arm64(template: dict[str, Any]) -> None:
    function = template["Globals"]["Function"]

    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    for name in FUNCTIONS:
        properties = resource(template, name)["Properties"]
        assert "Runtime" not in properties
        assert "Architectures" not in properties


@pytest.mark.parametrize(
    ("function", "folder"), [(f, f[: -len("Function")].lower()) for f in FUNCTIONS]
)
def test_each_handler_setting_points_at_a_real_lambda_handler(
    template: dict[str, Any], function: str, folder: str
) -> None:
    # GIVEN the function's CodeUri and Handler
    properties = resource(template, function)["Properties"]
    module, _, name = properties["Handler"].partition(".")

    # THEN the folder is functions/<name>/ and the module defines that function
    assert properties["CodeUri"] == f"functions/{folder}/"
    source = (ROOT / properties["CodeUri"] / f"{module}.py").read_text()
    assert re.search(rf"^def {name}\(", source, re.MULTILINE)


def test_the_environment_is_exactly_the_contract(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]

    assert set(variables) == CONTRACT_VARIABLES
    for name in FUNCTIONS:
        assert "Environment" not in resource(template, name)["Properties"]


def test_the_environment_points_at_the_stack_resources(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]

    assert variables["ARCHIVE_BUCKET"] == {"Ref": "ArchiveBucket"}
    assert variables["JOBS_QUEUE_URL"] == {"Ref": "JobsQueue"}
    assert variables["IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}
    assert variables["CONFIG_KEY"] == {"Ref": "ConfigKey"}
    assert template["Parameters"]["ConfigKey"]["Default"] == "config/accounts.json"


def test_the_templates_layer_lands_where_templates_dir_points(template: dict[str, Any]) -> None:
    # GIVEN a plain-files layer from templates/: Lambda unpacks a layer's files into /opt
    layer = resource(template, "TemplatesLayer")
    variables = template["Globals"]["Function"]["Environment"]["Variables"]

    # THEN the digest function has it and TEMPLATES_DIR is /opt, where the .j2 files land
    assert layer["Properties"]["ContentUri"] == "templates"
    assert "Metadata" not in layer
    assert {"Ref": "TemplatesLayer"} in resource(template, "DigestFunction")["Properties"]["Layers"]
    assert variables["TEMPLATES_DIR"] == "/opt"
    assert (ROOT / "templates" / "digest.html.j2").is_file()


def test_the_shared_layer_is_built_by_sam_for_arm64(template: dict[str, Any]) -> None:
    layer = resource(template, "SharedLayer")

    assert layer["Properties"]["ContentUri"] == "layers/shared"
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": "SharedLayer"}]


def test_the_layer_requirements_are_generated_from_the_lock() -> None:
    requirements = (ROOT / "layers" / "shared" / "requirements.txt").read_text()

    assert "uv export" in requirements.splitlines()[1]
    for package in ("aws-lambda-powertools", "boto3", "jinja2", "requests", "tzdata"):
        assert re.search(rf"^{package}==", requirements, re.MULTILINE), package


# --- the schedule, the queue and the digest trigger ---------------------------------------------


def test_the_schedule_is_named_after_the_stack_and_has_retries_and_a_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    event = resource(template, "DispatchFunction")["Properties"]["Events"]["Schedule"]
    properties = event["Properties"]

    assert event["Type"] == "ScheduleV2"
    assert "${AWS::StackName}" in sub_text(properties["Name"])
    assert properties["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert properties["DeadLetterConfig"]["Arn"] == {
        "Fn::GetAtt": ["DispatchDeadLetterQueue", "Arn"]
    }


def test_the_schedule_input_is_the_contract_and_the_handler_accepts_it(
    template: dict[str, Any],
) -> None:
    # GIVEN the input the schedule sends
    properties = resource(template, "DispatchFunction")["Properties"]["Events"]["Schedule"]
    document = json.loads(properties["Properties"]["Input"])

    # THEN it is the documented pair of scheduler placeholders...
    assert document == {
        "scheduled_time": "<aws.scheduler.scheduled-time>",
        "execution_id": "<aws.scheduler.execution-id>",
    }
    # ... and, filled in the way the scheduler fills them, a valid dispatch event
    filled = {"scheduled_time": "2026-11-21T06:00:00Z", "execution_id": "0a1b2c3d"}
    assert parse_event(filled).kind == "schedule"


def test_the_jobs_queue_is_encrypted_and_redrives_to_a_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    queue = resource(template, "JobsQueue")["Properties"]

    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]
    }
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 1
    for name in ("JobsDeadLetterQueue", "DispatchDeadLetterQueue"):
        assert resource(template, name)["Properties"]["SqsManagedSseEnabled"] is True


def test_the_visibility_timeout_is_at_least_six_times_the_digest_timeout(
    template: dict[str, Any],
) -> None:
    timeout = resource(template, "DigestFunction")["Properties"]["Timeout"]
    visibility = resource(template, "JobsQueue")["Properties"]["VisibilityTimeout"]

    assert visibility >= 6 * timeout


def test_the_digest_memory_is_a_parameter_and_dispatch_keeps_the_global_size(
    template: dict[str, Any],
) -> None:
    # Reports of large accounts need more CPU than a day; Lambda gives CPU with memory.
    parameter = template["Parameters"]["DigestMemorySize"]
    assert (parameter["Type"], parameter["Default"]) == ("Number", 256)
    assert parameter["MinValue"] == 256
    assert resource(template, "DigestFunction")["Properties"]["MemorySize"] == {
        "Ref": "DigestMemorySize"
    }
    assert "MemorySize" not in resource(template, "DispatchFunction")["Properties"]
    assert template["Globals"]["Function"]["MemorySize"] == 256


def test_the_digest_trigger_reports_partial_batch_failures_with_bounded_concurrency(
    template: dict[str, Any],
) -> None:
    event = resource(template, "DigestFunction")["Properties"]["Events"]["Jobs"]

    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["ScalingConfig"]["MaximumConcurrency"] == {
        "Ref": "DigestConcurrency"
    }


# --- storage -------------------------------------------------------------------------------


def test_the_archive_bucket_is_private_encrypted_versioned_and_kept(
    template: dict[str, Any],
) -> None:
    bucket = resource(template, "ArchiveBucket")
    properties = bucket["Properties"]

    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    rule = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert bucket["DeletionPolicy"] == "Retain"


def test_the_archive_bucket_refuses_requests_without_tls(template: dict[str, Any]) -> None:
    policy = resource(template, "ArchiveBucketPolicy")["Properties"]
    denies = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]

    assert policy["Bucket"] == {"Ref": "ArchiveBucket"}
    assert len(denies) == 1
    assert denies[0]["Principal"] == "*"
    assert denies[0]["Action"] == "s3:*"
    assert {"Fn::GetAtt": ["ArchiveBucket", "Arn"]} in denies[0]["Resource"]
    assert {"Fn::Sub": "${ArchiveBucket.Arn}/*"} in denies[0]["Resource"]


def test_archived_days_move_to_cheaper_storage_and_expire_only_when_asked(
    template: dict[str, Any],
) -> None:
    rules = resource(template, "ArchiveBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    by_prefix = {rule.get("Prefix"): rule for rule in rules}

    for prefix in ("raw/", "summaries/", "digests/"):
        rule = by_prefix[prefix]
        assert rule["Transitions"][0]["TransitionInDays"] == {"Ref": "ArchiveTransitionDays"}
        assert rule["Transitions"][0]["StorageClass"] == "STANDARD_IA"
        assert rule["ExpirationInDays"] == {
            "Fn::If": [
                "HasArchiveExpiration",
                {"Ref": "ArchiveExpirationDays"},
                {"Ref": "AWS::NoValue"},
            ]
        }
    assert "config/" not in by_prefix
    assert template["Parameters"]["ArchiveExpirationDays"]["Default"] == 0


def test_the_idempotency_table_uses_the_powertools_defaults(template: dict[str, Any]) -> None:
    table = resource(template, "IdempotencyTable")["Properties"]

    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


# --- least privilege ---------------------------------------------------------------------------


def test_no_statement_allows_every_action_or_every_resource(template: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        for statement in statements(template, function):
            assert statement["Effect"] == "Allow"
            assert not any("*" in action for action in as_list(statement["Action"]))
            assert "*" not in as_list(statement["Resource"])


def test_secrets_are_readable_only_under_the_name_prefix(template: dict[str, Any]) -> None:
    # Only the digest function reads values; both may describe a secret (its version id tells
    # dispatch whether a failed day's token was changed since), and only under the prefix.
    for function in FUNCTIONS:
        for statement in statements(template, function):
            actions = as_list(statement["Action"])
            if not any(a.startswith("secretsmanager:") for a in actions):
                continue
            assert sub_text(statement["Resource"]).endswith(":secret:${TokenSecretPrefix}*")
            if "secretsmanager:GetSecretValue" in actions:
                assert function == "DigestFunction"
                assert set(actions) == {
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:DescribeSecret",
                }
            else:
                assert actions == ["secretsmanager:DescribeSecret"]


def test_tokens_and_channel_secrets_share_one_read_statement_under_the_prefix(
    template: dict[str, Any],
) -> None:
    # GIVEN the digest function's statements that read secrets
    reads = [
        statement
        for statement in statements(template, "DigestFunction")
        if "secretsmanager:GetSecretValue" in as_list(statement["Action"])
    ]
    # THEN one statement, one prefix, for the tokens and the hook URLs and signing keys alike
    (statement,) = reads
    assert as_list(statement["Resource"]) == [statement["Resource"]]
    default = template["Parameters"]["TokenSecretPrefix"]["Default"]
    for name in ("sla-digest/acme", "sla-digest/acme/slack", "sla-digest/acme/hook-key"):
        assert name.startswith(default)
    assert "url_secret" in template["Parameters"]["TokenSecretPrefix"]["Description"]


def test_email_can_be_sent_only_as_the_sender(template: dict[str, Any]) -> None:
    (statement,) = [
        s
        for f in FUNCTIONS
        for s in statements(template, f)
        if any(a.startswith("ses:") for a in as_list(s["Action"]))
    ]

    assert statement in statements(template, "DigestFunction")
    assert statement["Action"] == "ses:SendEmail"
    assert sub_text(statement["Resource"]).endswith(":identity/${Identity}")
    assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "SenderAddress"}}}


def test_s3_access_is_limited_to_the_prefixes_in_use(template: dict[str, Any]) -> None:
    allowed = {
        "${ArchiveBucket.Arn}/${ConfigKey}",
        "${ArchiveBucket.Arn}/raw/*",
        "${ArchiveBucket.Arn}/summaries/*",
        "${ArchiveBucket.Arn}/digests/*",
        "${ArchiveBucket.Arn}/digests/*/failure.json",
        "${ArchiveBucket.Arn}/datasets/*",
    }
    for function in FUNCTIONS:
        for statement in statements(template, function):
            actions = as_list(statement["Action"])
            if not any(a.startswith("s3:") for a in actions):
                continue
            if actions == ["s3:ListBucket"]:
                assert statement["Resource"] == {"Fn::GetAtt": ["ArchiveBucket", "Arn"]}
                continue
            assert {sub_text(r) for r in as_list(statement["Resource"])} <= allowed


def test_dispatch_only_reads_the_archive_and_only_digest_writes_it(
    template: dict[str, Any],
) -> None:
    def actions(function: str) -> set[str]:
        return {a for s in statements(template, function) for a in as_list(s["Action"])}

    assert actions("DispatchFunction") == {
        "s3:GetObject",
        "s3:ListBucket",
        "sqs:SendMessage",
        "secretsmanager:DescribeSecret",
    }
    assert {"s3:PutObject", "s3:DeleteObject"} <= actions("DigestFunction")
    deletes = [
        s for s in statements(template, "DigestFunction") if s["Action"] == "s3:DeleteObject"
    ]
    assert [sub_text(s["Resource"]) for s in deletes] == [
        "${ArchiveBucket.Arn}/raw/*",
        "${ArchiveBucket.Arn}/digests/*/failure.json",
    ]


def test_jobs_can_be_sent_only_to_the_jobs_queue(template: dict[str, Any]) -> None:
    sends = [
        (f, s)
        for f in FUNCTIONS
        for s in statements(template, f)
        if any(a.startswith("sqs:") for a in as_list(s["Action"]))
    ]

    assert [(f, s["Action"], s["Resource"]) for f, s in sends] == [
        ("DispatchFunction", "sqs:SendMessage", {"Fn::GetAtt": ["JobsQueue", "Arn"]})
    ]


def test_dynamodb_is_limited_to_the_idempotency_table(template: dict[str, Any]) -> None:
    uses = [
        (f, s)
        for f in FUNCTIONS
        for s in statements(template, f)
        if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
    ]

    assert [f for f, _ in uses] == ["DigestFunction"]
    assert uses[0][1]["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
    assert not any(a.endswith(("Scan", "Query", "*")) for a in as_list(uses[0][1]["Action"]))


# --- operations ----------------------------------------------------------------------------------


def test_each_function_logs_to_its_own_group_with_retention(template: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        group_ref = resource(template, function)["Properties"]["LoggingConfig"]["LogGroup"]
        group = resource(template, group_ref["Ref"])

        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_alarms_watch_both_dead_letter_queues_and_both_functions(template: dict[str, Any]) -> None:
    alarms = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched = set()
    for alarm in alarms:
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        for dimension in properties.get("Dimensions", []):
            value = dimension["Value"]
            watched.add((properties["MetricName"], json.dumps(value, sort_keys=True)))

    assert (
        "ApproximateNumberOfMessagesVisible",
        json.dumps({"Fn::GetAtt": ["JobsDeadLetterQueue", "QueueName"]}),
    ) in watched
    assert (
        "ApproximateNumberOfMessagesVisible",
        json.dumps({"Fn::GetAtt": ["DispatchDeadLetterQueue", "QueueName"]}),
    ) in watched
    for function in FUNCTIONS:
        assert ("Errors", json.dumps({"Ref": function})) in watched


def test_the_alarm_email_subscription_exists_only_when_an_address_is_given(
    template: dict[str, Any],
) -> None:
    subscription = resource(template, "AlarmEmailSubscription")

    assert subscription["Condition"] == "HasAlarmEmail"
    assert template["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""


def published_metric_names() -> set[str]:
    """Every metric name the code hands to Powertools (the handlers and the jobs' telemetry)."""
    sources = [*ROOT.glob("functions/*/app.py"), *ROOT.glob("layers/shared/sla_digest/**/*.py")]
    text = "\n".join(path.read_text() for path in sources)
    return set(re.findall(r'"([A-Z][A-Za-z]+)"', text))


def test_the_heartbeat_alarm_fires_on_overdue_digests_and_on_missing_data(
    template: dict[str, Any],
) -> None:
    # GIVEN the alarm on the metric dispatch publishes every tick
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    (alarm,) = [
        body["Properties"]
        for body in template["Resources"].values()
        if body["Type"] == "AWS::CloudWatch::Alarm"
        and body["Properties"].get("MetricName") == "OverdueDigests"
    ]

    # THEN it reads the functions' namespace and service, goes off on any overdue digest and
    # when no tick reported (missing data breaches), and notifies the alarm topic both ways
    assert alarm["Namespace"] == variables["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [
        {"Name": "service", "Value": variables["POWERTOOLS_SERVICE_NAME"]}
    ]
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Maximum",
        "GreaterThanThreshold",
        0,
    )
    assert alarm["TreatMissingData"] == "breaching"
    # one period at least as long as the slowest schedule we document (hourly)
    assert alarm["Period"] * alarm["EvaluationPeriods"] >= 3600
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}]
    assert "dispatch_metrics(result)" in (ROOT / "functions" / "dispatch" / "app.py").read_text()


def dashboard_metrics(template: dict[str, Any]) -> list[list[Any]]:
    body = resource(template, "OperationsDashboard")["Properties"]["DashboardBody"]
    text = re.sub(r"\$\{([^}]+)\}", r"\1", sub_text(body))  # ${JobsQueue.Arn} -> JobsQueue.Arn
    widgets = json.loads(text)["widgets"]
    return [row for widget in widgets for row in widget["properties"]["metrics"]]


def test_the_dashboard_shows_deliveries_fetching_failures_and_dead_letter_depth(
    template: dict[str, Any],
) -> None:
    # GIVEN the dashboard's metrics
    rows = dashboard_metrics(template)
    ours = {row[1] for row in rows if row[0] == "SlaDigest"}
    queues = {
        row[3] for row in rows if row[:2] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible"]
    }

    # THEN it shows what the README promises, and the two dead-letter queues
    assert {
        "DigestsSent",
        "OverdueDigests",
        "PagesFetched",
        "FetchRetries",
        "DigestFailures",
        "PermanentFailures",
    } <= ours
    assert queues == {
        "JobsDeadLetterQueue.QueueName",
        "DispatchDeadLetterQueue.QueueName",
    }


def test_every_metric_on_the_dashboard_and_in_an_alarm_is_one_the_code_publishes(
    template: dict[str, Any],
) -> None:
    # GIVEN the application's metrics the dashboard and the alarms read
    alarms = {
        body["Properties"]["MetricName"]
        for body in template["Resources"].values()
        if body["Type"] == "AWS::CloudWatch::Alarm"
        and body["Properties"].get("Namespace") == "SlaDigest"
    }
    shown = {row[1] for row in dashboard_metrics(template) if row[0] == "SlaDigest"}

    # THEN each is a name the code publishes: a renamed metric cannot leave a silent widget
    assert (alarms | shown) - published_metric_names() == set()


def test_every_skipped_checkov_check_carries_a_reason(template: dict[str, Any]) -> None:
    skips = [
        (name, skip)
        for name, body in template["Resources"].items()
        for skip in body.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]

    assert skips
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), name
        assert len(skip.get("comment", "").split()) >= 5, f"{name} {skip['id']}"
