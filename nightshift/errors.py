"""The exceptions nightshift raises, in one tree.

    NightshiftError                 an operation on the outside world failed
    ├── ModelAPIError               the model endpoint (DeepSeek or self-hosted) failed
    │   ├── RunStoppingError        no later request can succeed: stop the whole run
    │   │   ├── AuthenticationError       401: the key is missing or wrong
    │   │   └── InsufficientBalanceError  402: the account has no balance left
    │   ├── RequestRejectedError    400/422: the request itself is wrong; not retried
    │   │   └── ContextLengthError        the prompt is longer than the context
    │   ├── TransientAPIError       429, 5xx, dropped connections, blank JSON: retried,
    │   │                           raised once the retries are spent
    │   │   ├── MalformedResponseError    a 200 answer that is not a chat completion
    │   │   └── AttemptDeadlineError      no complete answer within the per-attempt deadline
    │   ├── RetriesStoppedError     the caller stopped the retries (its budget); not retried
    │   └── ClientInternalError     an unexpected exception inside the client (a bug),
    │                               wrapped so the caller still gets the attempts; not retried
    ├── StorageError                a corpus source or sink (local disk, S3) failed
    │   ├── SourceNotFoundError     the folder, file or bucket does not exist
    │   ├── AccessDeniedError       credentials are missing, expired or not allowed
    │   └── ObjectFetchError        one object could not be read: a row, not a stop
    │       ├── ObjectVanishedError       deleted between listing and download
    │       └── ObjectAccessDeniedError   listing allowed, reading this object not
    └── StoreError                  the DuckDB database cannot be used

    ConfigError                     a setting, profile or argument is wrong (a programmer's
                                    or user's mistake, not the outside world's); apart from
                                    NightshiftError so that ``except NightshiftError`` never
                                    hides it.

Bad input documents are not exceptions: each ends as a ``documents`` row with a status and
a reason. Library code raises these; only the CLI turns them into exit codes.
"""

from __future__ import annotations

from typing import Any


class NightshiftError(Exception):
    """Root of the operational failures."""


class ModelAPIError(NightshiftError):
    """The model endpoint failed. ``status_code`` is the HTTP status when there was one.

    ``attempts`` holds the client's records of the attempts made for the request (billed ones
    included), set when the client gives up; empty when nothing was sent.
    """

    attempts: tuple[Any, ...] = ()

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RunStoppingError(ModelAPIError):
    """No later request of this run can succeed; dispatch stops at once."""


class AuthenticationError(RunStoppingError):
    """401: the API key is missing or wrong."""


class InsufficientBalanceError(RunStoppingError):
    """402: the account's balance is exhausted."""


class RequestRejectedError(ModelAPIError):
    """400/422: the request is malformed or has bad parameters; sending it again will not help."""


class ContextLengthError(RequestRejectedError):
    """The prompt and ``max_tokens`` do not fit the model's context."""


class TransientAPIError(ModelAPIError):
    """A failure worth retrying (429, 5xx, a dropped connection, blank JSON content)."""


class MalformedResponseError(TransientAPIError):
    """A 200 answer that is not a chat completion: not JSON, no choices, a non-string content,
    usage of the wrong types. Retried; its usage is kept when that part could be read."""


class AttemptDeadlineError(TransientAPIError):
    """No complete answer within the attempt's wall-clock deadline (e.g. a server that sends
    keep-alive blank lines forever, which no read timeout catches)."""


class RetriesStoppedError(ModelAPIError):
    """The caller stopped the retries from its per-attempt callback (e.g. its budget is spent)."""


class ClientInternalError(ModelAPIError):
    """An unexpected exception inside the client while handling an attempt; chained ``from``
    the original. Not retried: a bug does not heal by sending again."""


class StorageError(NightshiftError):
    """A corpus source or an export destination failed."""


class SourceNotFoundError(StorageError):
    """The folder, file, bucket or prefix does not exist."""


class AccessDeniedError(StorageError):
    """Credentials are missing, expired or lack permission."""


class ObjectFetchError(StorageError):
    """One object could not be downloaded; it becomes an ``unreadable`` row, the run goes on."""


class ObjectVanishedError(ObjectFetchError):
    """The object was listed but is gone by the time it is downloaded."""


class ObjectAccessDeniedError(ObjectFetchError, AccessDeniedError):
    """Listing was allowed but reading this one object is not (object ACL, KMS key, policy)."""


class StoreError(NightshiftError):
    """The DuckDB database could not be opened or written."""


class ConfigError(Exception):
    """A setting, profile or argument is invalid."""
