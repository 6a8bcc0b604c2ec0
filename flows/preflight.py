"""Checks a run must pass before anything starts: no Prefect, no network, no parsing.

Each check raises ``ConfigError`` with one line saying what is wrong and how to fix it, so a
mistake is answered at once instead of after ingest and planning.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nightshift.errors import ConfigError
from nightshift.options import BACKENDS, ReviewOptions
from nightshift.profiles import load_profile
from nightshift.settings import OcrMode, Settings


def review_options(settings: Settings, **values: Any) -> ReviewOptions:
    """Options for a review that can start: valid values, a profile that loads, the backend's
    credentials, a source that exists, the OCR engine when asked for, and a database that can
    be opened."""
    options = validated(values)
    check_source(options.source)
    check_ocr(options.ocr, settings)
    load_profile(options.profile)
    if not options.plan_only:
        check_backend(options.backend, settings)
    check_database(Path(options.db) if options.db else settings.db_path, options.plan_only)
    return options


def validated(values: dict[str, Any]) -> ReviewOptions:
    try:
        return ReviewOptions(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        if where == "backend":
            raise ConfigError(
                f"unknown backend {error['input']!r}; choose one of {', '.join(BACKENDS)}"
            ) from None
        raise ConfigError(f"{where}: {error['msg']}") from None


def check_backend(backend: str, settings: Settings) -> None:
    if backend == "deepseek":
        key = settings.deepseek_api_key
        if key is None or not key.get_secret_value().strip():
            raise ConfigError(
                "DEEPSEEK_API_KEY is not set. Set it to review with the DeepSeek API, or run "
                "against the local simulator with --backend simulator (answers are rule-based "
                "and nothing leaves this machine)."
            )
    elif backend == "selfhosted" and not settings.selfhosted_base_url:
        raise ConfigError(
            "--backend selfhosted needs NIGHTSHIFT_SELFHOSTED_BASE_URL (the endpoint that "
            "the infra/ module outputs) and NIGHTSHIFT_SELFHOSTED_API_KEY"
        )


def check_ocr(mode: OcrMode, settings: Settings) -> None:
    """With OCR asked for, Tesseract, its language data and pypdfium2 are installed."""
    if mode != "never":
        from tasks.ocr import OcrConfig, check_ocr_engine

        check_ocr_engine(OcrConfig(mode=mode, languages=settings.ocr_languages))


def check_source(source: str) -> None:
    if source.startswith("s3://"):
        bucket = source[len("s3://") :].partition("/")[0]
        if not bucket:
            raise ConfigError(f"S3 URI has no bucket: {source} (expected s3://bucket/prefix)")
        return
    path = Path(source).expanduser()
    if not path.exists():
        raise ConfigError(f"source not found: {path} (a folder, a file, or s3://bucket/prefix)")


def check_database(path: Path, read_only: bool) -> None:
    """The database can be opened: for writing, or (a plan) for reading when it exists."""
    import duckdb  # imported here: the checks before this one answer without it

    if read_only and not path.exists():
        return
    if not read_only and not path.parent.exists():
        try:
            path.parent.mkdir(parents=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the database folder {path.parent}: {exc.strerror}"
            ) from None
    try:
        duckdb.connect(str(path), read_only=read_only).close()
    except duckdb.Error as exc:
        message = " ".join(str(exc).split())
        if "lock" in message.lower():
            raise ConfigError(
                f"database {path} is in use by another process (a review still running?): {message}"
            ) from None
        raise ConfigError(f"cannot open database {path}: {message}") from None


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror} (choose another --port)"
            ) from None
