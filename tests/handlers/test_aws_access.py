"""The handlers' AWS access: lazily created clients, the token lookup and accounts.json in S3."""

from __future__ import annotations

import json

import boto3
import pytest

from sla_digest.aws import AwsClients, read_config, read_token
from sla_digest.exceptions import ConfigError
from tests.fixtures.aws import REGION

TOKEN = "s3cr3t-token-value"


def test_clients_are_created_only_when_first_used(aws: None) -> None:
    # GIVEN a fresh set of clients
    clients = AwsClients()

    # THEN none exists yet
    assert clients._s3 is None
    assert clients._sqs is None

    # WHEN one is used, THEN it is created once, in the region of the environment
    assert clients.s3 is clients.s3
    assert clients.s3.meta.region_name == REGION
    assert clients._sqs is None


def test_an_injected_client_is_used_as_given(aws: None) -> None:
    sqs = boto3.client("sqs", region_name="us-east-2")

    assert AwsClients(sqs=sqs).sqs is sqs


def test_the_region_comes_from_aws_region(aws: None) -> None:
    clients = AwsClients(environ={"AWS_REGION": "ap-south-1"})

    assert clients.sesv2.meta.region_name == "ap-south-1"


def test_a_plain_string_secret_is_the_token(aws: None) -> None:
    # GIVEN the token stored as the secret's whole value (with a stray newline)
    clients = AwsClients()
    clients.secretsmanager.create_secret(Name="sla-digest/acme", SecretString=TOKEN + "\n")

    # THEN it is read without the newline
    assert read_token("sla-digest/acme", clients=clients) == TOKEN


def test_a_json_secret_gives_its_api_access_token(aws: None) -> None:
    clients = AwsClients()
    clients.secretsmanager.create_secret(
        Name="sla-digest/acme", SecretString=json.dumps({"api_access_token": TOKEN})
    )

    assert read_token("sla-digest/acme", clients=clients) == TOKEN


def test_the_token_is_cached_between_invocations(aws: None) -> None:
    # GIVEN a token read once
    clients = AwsClients()
    clients.secretsmanager.create_secret(Name="sla-digest/acme", SecretString=TOKEN)
    read_token("sla-digest/acme", clients=clients)

    # WHEN the secret changes and is read again within max_age
    clients.secretsmanager.put_secret_value(SecretId="sla-digest/acme", SecretString="rotated")

    # THEN the cached value is used (no second call)
    assert read_token("sla-digest/acme", clients=clients) == TOKEN


def test_a_missing_secret_names_the_secret(aws: None) -> None:
    clients = AwsClients()

    with pytest.raises(
        ConfigError,
        match=r"^secret 'sla-digest/nobody' cannot be read \(ResourceNotFoundException\)",
    ):
        read_token("sla-digest/nobody", clients=clients)


def test_a_json_secret_without_the_token_key_never_shows_its_value(aws: None) -> None:
    # GIVEN a JSON secret holding the token under another key
    clients = AwsClients()
    clients.secretsmanager.create_secret(
        Name="sla-digest/acme", SecretString=json.dumps({"token": TOKEN})
    )

    # WHEN it is read
    with pytest.raises(ConfigError) as caught:
        read_token("sla-digest/acme", clients=clients)

    # THEN the error names the secret and the expected form, never the value
    assert str(caught.value).startswith("secret 'sla-digest/acme' holds no token")
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value.__cause__)


def test_accounts_json_is_read_from_the_bucket(aws: None) -> None:
    # GIVEN accounts.json in the bucket
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="archive", CreateBucketConfiguration={"LocationConstraint": REGION})
    document = {
        "accounts": [
            {
                "account_id": 7,
                "base_url": "https://chat.acme.example",
                "token_secret": "sla-digest/acme",
                "recipients": ["leads@acme.example"],
            }
        ]
    }
    s3.put_object(Bucket="archive", Key="config/accounts.json", Body=json.dumps(document))

    # WHEN it is read
    config = read_config("archive", "config/accounts.json", s3=s3)

    # THEN the account is there and errors name the S3 location
    assert [a.account_id for a in config.accounts] == [7]
    assert config.source == "s3://archive/config/accounts.json"


def test_a_missing_accounts_json_says_where_to_upload_it(aws: None) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="archive", CreateBucketConfiguration={"LocationConstraint": REGION})

    with pytest.raises(
        ConfigError,
        match=r"^s3://archive/config/accounts.json does not exist: upload accounts.json there$",
    ):
        read_config("archive", "config/accounts.json", s3=s3)


def test_a_secrets_version_changes_when_its_value_is_put_and_says_missing_when_absent(
    aws: None,
) -> None:
    # GIVEN no secret yet, then one, then a new value put into it
    from sla_digest.aws import secret_version

    clients = AwsClients()
    absent = secret_version("sla-digest/acme", secretsmanager=clients.secretsmanager)
    clients.secretsmanager.create_secret(Name="sla-digest/acme", SecretString=TOKEN)
    first = secret_version("sla-digest/acme", secretsmanager=clients.secretsmanager)
    clients.secretsmanager.put_secret_value(SecretId="sla-digest/acme", SecretString="other")
    second = secret_version("sla-digest/acme", secretsmanager=clients.secretsmanager)

    # THEN each state reads differently, and none of them is the value
    assert absent == "missing"
    assert len({absent, first, second}) == 3
    assert TOKEN not in (first, second)


def test_the_config_version_is_its_etag_and_says_missing_when_absent(aws: None) -> None:
    from sla_digest.aws import config_version

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(
        Bucket="sla-digest-archive", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    assert config_version("sla-digest-archive", "config/accounts.json", s3=s3) == "missing"
    s3.put_object(Bucket="sla-digest-archive", Key="config/accounts.json", Body=b"{}")
    first = config_version("sla-digest-archive", "config/accounts.json", s3=s3)
    s3.put_object(Bucket="sla-digest-archive", Key="config/accounts.json", Body=b"{}")
    same = config_version("sla-digest-archive", "config/accounts.json", s3=s3)
    s3.put_object(Bucket="sla-digest-archive", Key="config/accounts.json", Body=b'{"accounts": []}')
    changed = config_version("sla-digest-archive", "config/accounts.json", s3=s3)

    # the same bytes uploaded again are the same config; other bytes are not
    assert first == same != changed
