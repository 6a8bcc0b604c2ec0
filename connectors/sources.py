"""One interface over every corpus source, and the one place that picks a source for a URI."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from connectors.paths import PathFilter
from nightshift.models import DocumentRef


class Source(Protocol):
    """Where documents come from: discovered as refs (streamed), fetched one at a time."""

    @property
    def uri(self) -> str: ...

    def discover(self) -> Iterator[DocumentRef]: ...

    def fetch(self, ref: DocumentRef) -> AbstractContextManager[Path]: ...


def open_source(
    uri: str,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    respect_gitignore: bool = True,
    s3_endpoint_url: str | None = None,
) -> Source:
    """A source for ``uri``: ``s3://bucket/prefix`` or a local folder or file."""
    path_filter = PathFilter.of(include, exclude)
    if uri.startswith("s3://"):
        from connectors.s3 import S3Source, make_s3_client

        client = make_s3_client(endpoint_url=s3_endpoint_url)
        return S3Source.from_uri(uri, client=client, path_filter=path_filter)
    from connectors.local import LocalSource

    return LocalSource(Path(uri), path_filter, respect_gitignore)
