"""One interface over every corpus source, and the one place that picks a source for a URI.

``fetch_ahead`` fetches a stream of refs concurrently with a bounded pool of threads: S3 answers
each object after a round trip that a single fetcher spends waiting, so several in flight keep
the connection busy. At most ``workers`` objects are in flight or fetched and not yet taken, so
a long stream never spools more than that many files at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from connectors.paths import PathFilter
from nightshift.models import DocumentRef


class Source(Protocol):
    """Where documents come from: discovered as refs (streamed), fetched one at a time."""

    @property
    def uri(self) -> str: ...

    def discover(self) -> Iterator[DocumentRef]: ...

    def fetch(self, ref: DocumentRef) -> AbstractContextManager[Path]: ...


T = TypeVar("T")


@dataclass(frozen=True)
class Fetched(Generic[T]):
    """One ref fetched (and read by the caller's ``read``), or the error that stopped it.

    The fetched file stays on disk until ``close``: the taker may hand it on (to a PDF parser
    process) before closing it.
    """

    ref: DocumentRef
    path: Path | None = None
    value: T | None = None
    error: Exception | None = None
    _stack: ExitStack = field(default_factory=ExitStack, repr=False, compare=False)

    def close(self) -> None:
        self._stack.close()


def _fetch_one(
    source: Source, ref: DocumentRef, read: Callable[[DocumentRef, Path], T]
) -> Fetched[T]:
    stack = ExitStack()
    try:
        path = stack.enter_context(source.fetch(ref))
        value = read(ref, path)
    except Exception as exc:  # handed to the taker, which decides what becomes a row
        stack.close()
        return Fetched(ref, error=exc)
    return Fetched(ref, path, value, None, stack)


def fetch_ahead(
    source: Source,
    refs: Iterable[DocumentRef],
    workers: int,
    read: Callable[[DocumentRef, Path], T],
) -> Iterator[Fetched[T]]:
    """Each ref fetched and passed to ``read`` in a pool of ``workers`` threads, yielded in the
    order of ``refs``. ``refs`` is consumed lazily, on the caller's thread, ``workers`` ahead."""
    if workers <= 1:  # no thread at all: the same calls, one at a time
        for ref in refs:
            yield _fetch_one(source, ref, read)
        return
    window: deque[Future[Fetched[T]]] = deque()
    pending = iter(refs)
    with ThreadPoolExecutor(workers, thread_name_prefix="nightshift-fetch") as pool:
        try:
            for ref in pending:
                window.append(pool.submit(_fetch_one, source, ref, read))
                if len(window) >= workers:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:
            # The taker stopped early (an error, a closed generator): nothing fetched is left
            # behind on disk.
            for future in window:
                if not future.cancel():
                    future.result().close()


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
