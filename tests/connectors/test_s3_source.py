"""S3Source against moto's S3 server over real sockets."""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from connectors.paths import PathFilter
from connectors.s3 import (
    ObjectAccessDeniedError,
    ObjectVanishedError,
    S3Source,
    make_s3_client,
    parse_s3_uri,
    problem_for,
    translate_error,
)
from nightshift.errors import AccessDeniedError, ConfigError, SourceNotFoundError, StorageError
from nightshift.models import DocStatus, DocumentRef
from tests.fixtures.s3 import TEST_REGION, S3Bucket, enforce_iam


def relpaths(source: S3Source) -> list[str]:
    return sorted(ref.relpath for ref in source.discover())


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message
    return message


# Discovery


def test_discovers_every_object_across_pages(s3_bucket: S3Bucket) -> None:
    s3_bucket.seed((f"corpus/{i:05d}.txt", f"document {i}".encode()) for i in range(2500))
    calls: list[str] = []
    s3_bucket.client.meta.events.register(
        "before-call.s3.ListObjectsV2", lambda **_: calls.append("list")
    )

    refs = list(S3Source(s3_bucket.name, "corpus", s3_bucket.client).discover())

    assert len(refs) == 2500
    assert len(calls) == 3  # 1,000 keys per page is the S3 default
    assert len({ref.uri for ref in refs}) == 2500
    first = min(refs, key=lambda ref: ref.relpath)
    assert first.uri == f"s3://{s3_bucket.name}/corpus/00000.txt"
    assert first.relpath == "00000.txt"
    assert first.size == len(b"document 0")
    assert first.etag == hashlib.md5(b"document 0").hexdigest()
    assert first.modified is not None and first.modified.tzinfo is UTC


def test_prefix_is_a_folder_and_whole_bucket_without_one(s3_bucket: S3Bucket) -> None:
    s3_bucket.put(
        {"docs/a.txt": b"a", "docs/sub/b.md": b"b", "docs-old/c.txt": b"c", "top.txt": b"t"}
    )

    docs = S3Source.from_uri(f"s3://{s3_bucket.name}/docs", client=s3_bucket.client)
    bucket = S3Source.from_uri(f"s3://{s3_bucket.name}", client=s3_bucket.client)

    assert relpaths(docs) == ["a.txt", "sub/b.md"]
    assert relpaths(bucket) == ["docs-old/c.txt", "docs/a.txt", "docs/sub/b.md", "top.txt"]
    assert docs.uri == f"s3://{s3_bucket.name}/docs"


def test_prefix_naming_one_object_is_that_object(s3_bucket: S3Bucket) -> None:
    s3_bucket.put({"docs/a.txt": b"alpha"})

    refs = list(S3Source(s3_bucket.name, "docs/a.txt", s3_bucket.client).discover())

    assert [(ref.uri, ref.relpath, ref.size) for ref in refs] == [
        (f"s3://{s3_bucket.name}/docs/a.txt", "a.txt", 5)
    ]


def test_prefix_with_nothing_under_it_is_not_found(s3_bucket: S3Bucket) -> None:
    s3_bucket.put({"docs/a.txt": b"a"})

    with pytest.raises(SourceNotFoundError, match="no objects under"):
        list(S3Source(s3_bucket.name, "contracts", s3_bucket.client).discover())


def test_include_and_exclude_globs_apply_to_relpaths(s3_bucket: S3Bucket) -> None:
    s3_bucket.put(
        {
            "c/msa.pdf": b"%PDF",
            "c/notes.md": b"#",
            "c/drafts/old.pdf": b"%PDF",
            "c/deep/x/amendment.pdf": b"%PDF",
            "c/deep/x/data.csv": b"a,b",
        }
    )
    path_filter = PathFilter.of(include=["**/*.pdf", "*.md"], exclude=["drafts/"])

    source = S3Source(s3_bucket.name, "c/", s3_bucket.client, path_filter)

    assert relpaths(source) == ["deep/x/amendment.pdf", "msa.pdf", "notes.md"]


def test_awkward_keys(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    s3_bucket.put(
        {
            "in/../escape.txt": b"climbs out of the prefix",
            "in//leading.txt": b"absolute once the prefix is removed",
            "in/a/../b.txt": b"normalised",
            "in/with space/file name.txt": b"spaces",
            "in/unicode/résumé-契約.txt": b"unicode",
            "in/folder/": b"",
            "in/": b"",
        }
    )
    source = S3Source(s3_bucket.name, "in", s3_bucket.client, tmp_dir=tmp_path)

    refs = {ref.relpath: ref for ref in source.discover()}

    assert sorted(refs) == [
        "../escape.txt",
        "/leading.txt",
        "b.txt",
        "unicode/résumé-契約.txt",
        "with space/file name.txt",
    ]
    for unsafe in ("../escape.txt", "/leading.txt"):
        assert refs[unsafe].problem is not None
        status, reason = refs[unsafe].problem
        assert status is DocStatus.UNREADABLE
        assert reason.startswith("unsafe key")
    assert refs["b.txt"].uri == f"s3://{s3_bucket.name}/in/a/../b.txt"
    for relpath, body in [
        ("b.txt", b"normalised"),
        ("with space/file name.txt", b"spaces"),
        ("unicode/résumé-契約.txt", b"unicode"),
    ]:
        assert refs[relpath].problem is None
        with source.fetch(refs[relpath]) as path:
            assert path.read_bytes() == body


def test_keys_that_normalise_to_one_path_never_share_a_relpath(s3_bucket: S3Bucket) -> None:
    s3_bucket.put(
        {
            "p/a//x.txt": b"double slash",
            "p/a/x.txt": b"plain",
            "p/b/./y.txt": b"dot segment, first of two",
            "p/b//y.txt": b"double slash, second of two",
            "p/c/../z.txt": b"alone: normalised and read",
        }
    )
    source = S3Source(s3_bucket.name, "p", s3_bucket.client)

    refs = list(source.discover())
    by_key = {ref.uri.removeprefix(f"s3://{s3_bucket.name}/"): ref for ref in refs}

    assert len({ref.relpath for ref in refs}) == len(refs) == 5
    # The plainly spelled key keeps its path; among normalised ones the first listed does.
    assert (by_key["p/a/x.txt"].relpath, by_key["p/a/x.txt"].problem) == ("a/x.txt", None)
    assert (by_key["p/b/./y.txt"].relpath, by_key["p/b/./y.txt"].problem) == ("b/y.txt", None)
    assert (by_key["p/c/../z.txt"].relpath, by_key["p/c/../z.txt"].problem) == ("z.txt", None)
    for key, rel, shared in [("p/a//x.txt", "a//x.txt", "a/x.txt"),
                             ("p/b//y.txt", "b//y.txt", "b/y.txt")]:  # fmt: skip
        assert by_key[key].relpath == rel
        status, reason = by_key[key].problem
        assert status is DocStatus.UNREADABLE
        assert f"names the same path {shared!r} as another object" in reason


# Fetch


def test_fetch_streams_to_a_temp_file_removed_on_exit(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    body = bytes(range(256)) * (5 * 4096 + 7)  # ~5 MiB: several download chunks
    s3_bucket.put({"big/report.pdf": body})
    source = S3Source(s3_bucket.name, "big", s3_bucket.client, tmp_dir=tmp_path)
    [ref] = source.discover()

    with source.fetch(ref) as path:
        assert path.parent == tmp_path
        assert path.suffix == ".pdf"
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(body).digest()

    assert not path.exists()
    with pytest.raises(RuntimeError), source.fetch(ref) as path:
        raise RuntimeError("the parser failed")
    assert list(tmp_path.iterdir()) == []


def test_object_deleted_between_listing_and_fetch(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    s3_bucket.put({"d/gone.txt": b"soon deleted", "d/kept.txt": b"kept"})
    source = S3Source(s3_bucket.name, "d", s3_bucket.client, tmp_dir=tmp_path)
    refs = {ref.relpath: ref for ref in source.discover()}
    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key="d/gone.txt")

    with pytest.raises(ObjectVanishedError) as caught, source.fetch(refs["gone.txt"]):
        pytest.fail("fetch yielded a deleted object")

    assert problem_for(caught.value) == (
        DocStatus.UNREADABLE,
        f"deleted between listing and download: s3://{s3_bucket.name}/d/gone.txt",
    )
    with source.fetch(refs["kept.txt"]) as path:
        assert path.read_bytes() == b"kept"
    assert list(tmp_path.iterdir()) == []


def test_fetch_refuses_a_ref_from_another_bucket(s3_bucket: S3Bucket) -> None:
    source = S3Source(s3_bucket.name, "", s3_bucket.client)
    ref = DocumentRef(uri="s3://other-bucket/a.txt", relpath="a.txt", size=1)

    with pytest.raises(ConfigError), source.fetch(ref):
        pass


# Errors at the boundary


def test_missing_bucket_is_source_not_found(s3_client: Any) -> None:
    source = S3Source.from_uri("s3://no-such-bucket-here/prefix", client=s3_client)

    with pytest.raises(SourceNotFoundError) as caught:
        list(source.discover())

    assert one_line(caught.value) == "S3 bucket not found: s3://no-such-bucket-here/prefix/"


def test_unreachable_endpoint_is_a_storage_error(aws_credentials: None) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_s3_client(endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1)

    with pytest.raises(StorageError) as caught:
        list(S3Source("some-bucket", "", client).discover())

    assert type(caught.value) is StorageError
    assert one_line(caught.value).startswith("cannot reach the S3 endpoint for s3://some-bucket/")


def test_no_credentials_names_the_chain(
    s3_endpoint: str, aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    client = make_s3_client(endpoint_url=s3_endpoint)

    with pytest.raises(AccessDeniedError) as caught:
        list(S3Source("some-bucket", "", client).discover())

    message = one_line(caught.value)
    assert message.startswith("no usable AWS credentials for s3://some-bucket/")
    assert "AWS_ACCESS_KEY_ID" in message and "AWS_PROFILE" in message


def test_unknown_profile_is_a_config_error(aws_credentials: None) -> None:
    with pytest.raises(ConfigError, match="AWS profile not found: nightshift-missing"):
        make_s3_client(profile="nightshift-missing")


@pytest.mark.parametrize("code", ["ExpiredToken", "RequestExpired", "ExpiredTokenException"])
def test_expired_credentials(code: str) -> None:
    # moto never expires a session token, so the translation is checked on the error botocore
    # raises for S3's answer: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
    error = ClientError(
        {"Error": {"Code": code, "Message": "The provided token has expired."}}, "ListObjectsV2"
    )

    translated = translate_error(error, "s3://bucket/prefix/")

    assert isinstance(translated, AccessDeniedError)
    assert one_line(translated).startswith(f"credentials expired for s3://bucket/prefix/ ({code})")
    assert problem_for(translated) is None  # the run stops rather than failing every object


def test_translation_keeps_messages_on_one_line() -> None:
    error = ClientError(
        {"Error": {"Code": "InternalError", "Message": "We encountered\nan internal error."}},
        "GetObject",
    )

    translated = translate_error(error, "s3://b/k")

    assert type(translated) is StorageError
    assert one_line(translated) == (
        "S3 GetObject failed for s3://b/k (InternalError): We encountered an internal error."
    )


def test_bad_uris_are_config_errors() -> None:
    assert parse_s3_uri("s3://bucket") == ("bucket", "")
    assert parse_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b/")
    for uri in ("bucket/prefix", "s3:///prefix", "gs://bucket/x"):
        with pytest.raises(ConfigError):
            parse_s3_uri(uri)


# Endpoint configuration


def test_endpoint_comes_from_aws_endpoint_url_s3(
    s3_endpoint: str, aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the service-specific one wins
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    client = make_s3_client(region=TEST_REGION)
    bucket = f"env-endpoint-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="a.txt", Body=b"a")

    assert client.meta.endpoint_url == s3_endpoint
    assert relpaths(S3Source(bucket, "", client)) == ["a.txt"]


def test_explicit_endpoint_wins_over_the_environment(
    s3_endpoint: str, aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")

    client = make_s3_client(endpoint_url=s3_endpoint, region=TEST_REGION)

    assert client.meta.endpoint_url == s3_endpoint


# Access control, on a second moto server that enforces IAM


@pytest.fixture
def iam_world(s3_iam_endpoint: str, aws_credentials: None) -> Iterator[dict[str, Any]]:
    """A bucket with two objects, a user allowed only to list it, and one allowed nothing."""
    suffix = uuid.uuid4().hex[:8]
    bucket = f"guarded-{suffix}"
    admin = make_s3_client(endpoint_url=s3_iam_endpoint, region=TEST_REGION)
    admin.create_bucket(Bucket=bucket)
    admin.put_object(Bucket=bucket, Key="docs/a.txt", Body=b"a")
    iam = boto3.client("iam", endpoint_url=s3_iam_endpoint, region_name=TEST_REGION)
    keys = {}
    for user in ("lister", "nobody"):
        iam.create_user(UserName=f"{user}-{suffix}")
        keys[user] = iam.create_access_key(UserName=f"{user}-{suffix}")["AccessKey"]
    iam.put_user_policy(
        UserName=f"lister-{suffix}",
        PolicyName="list-only",
        PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            f'"Action": "s3:ListBucket", "Resource": "arn:aws:s3:::{bucket}"}}]}}'
        ),
    )
    enforce_iam(s3_iam_endpoint, 0)
    try:
        yield {"endpoint": s3_iam_endpoint, "bucket": bucket, "keys": keys}
    finally:
        enforce_iam(s3_iam_endpoint, float("inf"))


def _client_as(monkeypatch: pytest.MonkeyPatch, endpoint: str, key_id: str, secret: str) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    return make_s3_client(endpoint_url=endpoint, region=TEST_REGION, max_attempts=1)


@pytest.mark.parametrize(
    ("who", "code"),
    [("nobody", "AccessDenied"), ("unknown", "InvalidAccessKeyId"), ("forger", "Signature")],
)
def test_denied_listing_is_access_denied(
    iam_world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, who: str, code: str
) -> None:
    key = iam_world["keys"]["nobody"]
    key_id, secret = {
        "nobody": (key["AccessKeyId"], key["SecretAccessKey"]),
        "unknown": ("AKIAUNKNOWNKEY000000", "not-a-secret"),
        "forger": (key["AccessKeyId"], "a-wrong-secret"),
    }[who]
    client = _client_as(monkeypatch, iam_world["endpoint"], key_id, secret)

    with pytest.raises(AccessDeniedError) as caught:
        list(S3Source(iam_world["bucket"], "docs", client).discover())

    message = one_line(caught.value)
    assert message.startswith(f"access denied to s3://{iam_world['bucket']}/docs/ ({code}")
    assert problem_for(caught.value) is None  # a listing error stops discovery


def test_denied_object_becomes_a_row(
    iam_world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = iam_world["keys"]["lister"]
    client = _client_as(
        monkeypatch, iam_world["endpoint"], key["AccessKeyId"], key["SecretAccessKey"]
    )
    source = S3Source(iam_world["bucket"], "docs", client)

    [ref] = source.discover()
    with pytest.raises(ObjectAccessDeniedError) as caught, source.fetch(ref):
        pytest.fail("fetch yielded an object the user may not read")

    status, reason = problem_for(caught.value) or (None, "")
    assert status is DocStatus.UNREADABLE
    assert reason.startswith(f"access denied to {ref.uri} (AccessDenied)")


def test_a_missing_spool_folder_stops_the_run(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    s3_bucket.put({"a.txt": b"a"})
    source = S3Source(s3_bucket.name, "", s3_bucket.client, tmp_dir=tmp_path / "absent")
    [ref] = source.discover()

    with (
        pytest.raises(StorageError, match="cannot create a temporary file in") as caught,
        source.fetch(ref),
    ):
        pytest.fail("fetch yielded without a file")

    assert problem_for(caught.value) is None
