"""An S3 bucket or prefix as a corpus source, through boto3.

Discovery streams ``list_objects_v2`` pages, so a prefix of millions of keys is never held in
memory; ``fetch`` streams one object's body into a temporary file. The client comes from
:func:`make_s3_client`, which uses boto3's own credential chain (environment, profile, instance
or task role) and endpoint settings (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, the
``services`` section of the config file; botocore >= 1.31.0 reads them itself). This module never
reads the environment on its own.

botocore's exceptions are translated here into the project's ``StorageError`` tree, each with a
one-line message. A listing error aborts discovery; a fetch error that concerns one object
(deleted meanwhile, denied, cut off mid-download) is an :class:`ObjectFetchError`, which the
ingest stage lands as an ``unreadable`` row so that the run goes on (:func:`problem_for` says
which row).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

from connectors.paths import PathFilter, safe_relpath
from nightshift.errors import (
    AccessDeniedError,
    ConfigError,
    ObjectAccessDeniedError,
    ObjectFetchError,
    ObjectVanishedError,
    SourceNotFoundError,
    StorageError,
)
from nightshift.models import DocStatus, DocumentRef

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds; botocore's 60 s makes a wrong endpoint look like a hang
DEFAULT_READ_TIMEOUT = 60.0
DOWNLOAD_CHUNK_BYTES = 1024 * 1024

# S3 error codes, grouped by what they mean for a run.
# https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
_NOT_FOUND_CODES = frozenset({"NoSuchBucket"})
_VANISHED_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_EXPIRED_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
)
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "AccountProblem",
        "403",
        "Forbidden",
    }
)
_CREDENTIAL_CHAIN_HINT = (
    "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, choose a profile (AWS_PROFILE or --profile), "
    "or run where an instance or task role is available"
)
# Denials of one object while the credentials themselves work (an object ACL, a KMS key).
_OBJECT_DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden"})
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,16}")


def make_s3_client(
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Any:
    """An S3 client on boto3's standard credential chain, with standard-mode retries.

    ``endpoint_url=None`` leaves the endpoint to botocore, which honours ``AWS_ENDPOINT_URL_S3``
    then ``AWS_ENDPOINT_URL`` then the config file; an explicit value wins over all of them.
    """
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        raise ConfigError(f"AWS profile not found: {profile}") from exc
    config = Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=DEFAULT_CONNECT_TIMEOUT,
        read_timeout=DEFAULT_READ_TIMEOUT,
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as (bucket, prefix), the prefix exactly as S3 will see it."""
    if not uri.startswith("s3://"):
        raise ConfigError(f"not an S3 URI (expected s3://bucket/prefix): {uri}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ConfigError(f"S3 URI has no bucket: {uri}")
    return bucket, prefix


def translate_error(exc: Exception, target: str) -> StorageError:
    """botocore's exception as the project's, with a one-line message naming ``target``."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        detail = _one_line(str(error.get("Message") or code))
        if code in _NOT_FOUND_CODES:
            return SourceNotFoundError(f"S3 bucket not found: {target}")
        if code in _EXPIRED_CODES:
            return AccessDeniedError(
                f"credentials expired for {target} ({code}): refresh them (aws sso login, "
                "a new session token) and run again"
            )
        if code in _DENIED_CODES:
            return AccessDeniedError(f"access denied to {target} ({code}): {detail}")
        operation = exc.operation_name or "request"
        return StorageError(f"S3 {operation} failed for {target} ({code}): {detail}")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        hint = _CREDENTIAL_CHAIN_HINT
        return AccessDeniedError(f"no usable AWS credentials for {target}: {hint}")
    if isinstance(exc, TokenRetrievalError | SSOError | CredentialRetrievalError):
        detail = _one_line(exc)
        return AccessDeniedError(f"credentials expired or unavailable for {target}: {detail}")
    if isinstance(exc, ConnectionError):
        return StorageError(f"cannot reach the S3 endpoint for {target}: {_one_line(exc)}")
    if isinstance(exc, BotoCoreError):
        return StorageError(f"S3 failed for {target}: {_one_line(exc)}")
    return StorageError(f"S3 failed for {target}: {type(exc).__name__}: {_one_line(exc)}")


def problem_for(exc: BaseException) -> tuple[DocStatus, str] | None:
    """The row a failed ``fetch`` becomes, or None when the failure must stop the run.

    Only failures of one object become rows; expired credentials or an unreachable endpoint
    would turn every remaining object into a row, so those propagate.
    """
    if isinstance(exc, ObjectFetchError):
        return DocStatus.UNREADABLE, str(exc)
    return None


@dataclass(frozen=True)
class S3Source:
    """Every object under ``s3://bucket/prefix`` (the whole bucket when the prefix is empty).

    A prefix names a folder: ``s3://b/contracts`` lists ``contracts/...``, not
    ``contracts-old/...``. When nothing lies under it and the prefix is itself an object's key,
    that one object is the source, as a file path is for ``LocalSource``.
    """

    bucket: str
    prefix: str = ""
    client: Any = field(default=None, repr=False, compare=False)
    path_filter: PathFilter = field(default_factory=PathFilter)
    tmp_dir: Path | None = None  # where fetched objects are spooled; the system's temp dir if None

    def __post_init__(self) -> None:
        if self.client is None:
            object.__setattr__(self, "client", make_s3_client())

    @classmethod
    def from_uri(
        cls,
        uri: str,
        client: Any = None,
        path_filter: PathFilter | None = None,
        tmp_dir: Path | None = None,
    ) -> S3Source:
        bucket, prefix = parse_s3_uri(uri)
        return cls(bucket, prefix, client, path_filter or PathFilter(), tmp_dir)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def _folder(self) -> str:
        return self.prefix if not self.prefix or self.prefix.endswith("/") else self.prefix + "/"

    def discover(self) -> Iterator[DocumentRef]:
        found = False
        normalised: set[str] = set()  # relpaths of keys that had to be normalised (rare)
        for entry in self._list(self._folder):
            found = True
            rel = entry["Key"][len(self._folder) :]
            ref = self._ref(entry, rel)
            if ref is not None and ref.problem is None and ref.relpath != rel:
                ref = self._unless_shared(ref, rel, normalised)
            if ref is not None:
                yield ref
        if found or not self.prefix or self.prefix.endswith("/"):
            return
        single = self._head(self.prefix)
        if single is None:
            raise SourceNotFoundError(f"no objects under {self.uri}")
        ref = self._ref(single, PurePosixPath(self.prefix).name)
        if ref is not None:
            yield ref

    @contextmanager
    def fetch(self, ref: DocumentRef) -> Iterator[Path]:
        """The object's bytes in a temporary file, removed when the block exits."""
        bucket, key = parse_s3_uri(ref.uri)
        if bucket != self.bucket:
            raise ConfigError(f"{ref.uri} does not belong to {self.uri}")
        suffix = PurePosixPath(key).suffix
        try:
            spool = tempfile.NamedTemporaryFile(  # noqa: SIM115 - must outlive this statement
                prefix="nightshift-s3-",
                # the parser may look at the name: keep a plain extension, nothing else of the key
                suffix=suffix if _SAFE_SUFFIX.fullmatch(suffix) else "",
                dir=self.tmp_dir,
                delete=False,
            )
        except OSError as exc:
            where = self.tmp_dir or tempfile.gettempdir()
            raise StorageError(
                f"cannot create a temporary file in {where}: {exc.strerror}"
            ) from exc
        path = Path(spool.name)
        try:
            with spool:
                self._download(key, ref.uri, spool)
            yield path
        finally:
            with suppress(FileNotFoundError):
                path.unlink()

    def _list(self, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        target = f"s3://{self.bucket}/{prefix}"
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                yield from page.get("Contents", ())
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, target) from exc

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _VANISHED_CODES:
                return None
            raise translate_error(exc, f"s3://{self.bucket}/{key}") from exc
        except BotoCoreError as exc:
            raise translate_error(exc, f"s3://{self.bucket}/{key}") from exc
        return {
            "Key": key,
            "Size": head["ContentLength"],
            "LastModified": head.get("LastModified"),
            "ETag": head.get("ETag"),
        }

    def _unless_shared(self, ref: DocumentRef, rel: str, normalised: set[str]) -> DocumentRef:
        """``ref`` of a key normalised to ``ref.relpath`` (``a//x``, ``a/./x``, ``b/../a/x`` all
        give ``a/x``), or a conflict row when another object already has that path: two
        documents must not share one relpath, which citations and grouping rely on. The key
        spelled plainly wins; among normalised keys, the first listed."""
        if ref.relpath in normalised or self._head(self._folder + ref.relpath) is not None:
            reason = (
                f"key {rel!r} names the same path {ref.relpath!r} as another object once empty, "
                "'.' and '..' segments are normalised; not read"
            )
            # Kept as S3 spells it: a label for people, distinct from the other object's.
            return replace(ref, relpath=rel, problem=(DocStatus.UNREADABLE, reason))
        normalised.add(ref.relpath)
        return ref

    def _ref(self, entry: dict[str, Any], rel: str) -> DocumentRef | None:
        key = entry["Key"]
        if key.endswith("/"):
            return None  # a "folder" marker written by consoles and sync tools, not a document
        uri = f"s3://{self.bucket}/{key}"
        relpath = safe_relpath(rel)
        problem = None
        if relpath is None:
            # Kept as S3 spells it: a label for people, never used as a path on disk.
            relpath = rel
            reason = f"unsafe key {key!r}: it is absolute or climbs above the source prefix"
            problem = (DocStatus.UNREADABLE, reason)
        if not self.path_filter.admits(relpath):
            return None
        etag = entry.get("ETag")
        modified = entry.get("LastModified")
        return DocumentRef(
            uri=uri,
            relpath=relpath,
            size=int(entry["Size"]),
            modified=modified.astimezone(UTC) if modified is not None else None,
            etag=etag.strip('"') if etag else None,
            problem=problem,
        )

    def _download(self, key: str, uri: str, sink: Any) -> None:
        # get_object rather than download_fileobj: one request instead of HEAD plus ranged GETs,
        # and a missing key answers NoSuchKey instead of a bare 404 from the HEAD.
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _VANISHED_CODES:
                raise ObjectVanishedError(f"deleted between listing and download: {uri}") from exc
            error = translate_error(exc, uri)
            if code in _OBJECT_DENIED_CODES:
                raise ObjectAccessDeniedError(str(error)) from exc
            raise error from exc
        except BotoCoreError as exc:
            raise translate_error(exc, uri) from exc
        try:
            for chunk in body.iter_chunks(DOWNLOAD_CHUNK_BYTES):
                sink.write(chunk)
        except BotoCoreError as exc:
            # Cut off mid-body: standard-mode retries cover the request, not the stream.
            raise ObjectFetchError(f"download interrupted: {uri}: {_one_line(exc)}") from exc
        except OSError as exc:
            # The local disk, not the object: a full disk would fail every object alike.
            raise StorageError(f"cannot spool {uri} to {sink.name}: {exc.strerror}") from exc
        finally:
            body.close()


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
