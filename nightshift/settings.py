"""Settings that differ per machine, read once at the entry point and passed down.

Ecosystem names where they exist (``DEEPSEEK_API_KEY``, ``DEEPSEEK_BASE_URL``; boto3 reads the
``AWS_*`` family itself; Prefect reads ``PREFECT_*``), otherwise the ``NIGHTSHIFT_`` prefix.
Explicit CLI arguments and flow parameters override these.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from nightshift.models import DEFAULT_FLASH_MODEL, DEFAULT_PRO_MODEL, ModelIds

DEFAULT_DB_PATH = Path("nightshift.duckdb")
DEFAULT_BASE_URL = "https://api.deepseek.com"
DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024
# pypdf needed 83 s for one real 154-page contract here, up to 4 s for a single page: the time
# limit grows with the page count instead of being one flat number per file.
DEFAULT_PDF_SECONDS_PER_PAGE = 5.0
DEFAULT_PDF_MIN_SECONDS = 60.0
DEFAULT_PDF_PAGE_SECONDS = 60.0  # no single page may take longer
DEFAULT_PDF_MEMORY_MB = 2048
# Far above any real document (a long filing runs to a few thousand pages), far below a bomb:
# a page tree sharing one page 300,000 times, which pdfium extracts page by page inside every
# per-page clock.
DEFAULT_PDF_MAX_PAGES = 20_000

DEFAULT_FETCH_WORKERS = 16
# OCR of pages without a text layer (Tesseract). A 300-dpi render is what Tesseract is trained
# for; a page is rendered smaller when it would pass the pixel cap (a poster, a 2400-dpi scan's
# page size is what counts, not its image's resolution), so one page's memory stays bounded.
DEFAULT_OCR_LANGUAGES = "eng"
DEFAULT_OCR_DPI = 300
DEFAULT_OCR_MAX_PIXELS = 25_000_000  # a letter page at 300 dpi is 8.4 million
DEFAULT_OCR_PAGE_SECONDS = 60.0

PdfEngine = Literal["pypdf", "pdfium"]
# never: text layers only; auto: OCR the pages whose text layer is empty or nearly so;
# always: OCR every page and keep OCR's text (a text layer that is garbage, e.g. unmapped fonts).
OcrMode = Literal["never", "auto", "always"]
# off: each run keeps to its own in-flight limit (one machine); prefect: every request also holds
# a slot of the account-wide limit of its model family on the Prefect server
# (connectors/account_limit.py), for runs spread over many workers.
AccountLimit = Literal["off", "prefect"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NIGHTSHIFT_", env_file=".env", extra="ignore", populate_by_name=True
    )

    db_path: Path = Field(
        DEFAULT_DB_PATH, validation_alias=AliasChoices("NIGHTSHIFT_DB", "db_path")
    )
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    pdf_engine: PdfEngine = "pypdf"
    pdf_password: SecretStr | None = None
    pdf_seconds_per_page: float = DEFAULT_PDF_SECONDS_PER_PAGE
    pdf_min_seconds: float = DEFAULT_PDF_MIN_SECONDS
    pdf_page_seconds: float = DEFAULT_PDF_PAGE_SECONDS
    pdf_memory_mb: int = DEFAULT_PDF_MEMORY_MB
    pdf_max_pages: int = Field(DEFAULT_PDF_MAX_PAGES, gt=0)
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1)
    # Objects downloaded (and hashed) at once during ingest: S3 spends most of a small object's
    # time on the round trip, so several in flight keep it busy (bench/bench_s3_ingest.py).
    fetch_workers: int = Field(DEFAULT_FETCH_WORKERS, ge=1)
    ocr_languages: str = Field(DEFAULT_OCR_LANGUAGES, pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$")
    ocr_dpi: int = Field(DEFAULT_OCR_DPI, gt=0)
    ocr_max_pixels: int = Field(DEFAULT_OCR_MAX_PIXELS, gt=0)
    ocr_page_seconds: float = Field(DEFAULT_OCR_PAGE_SECONDS, gt=0)

    deepseek_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("DEEPSEEK_API_KEY", "deepseek_api_key")
    )
    deepseek_base_url: str = Field(
        DEFAULT_BASE_URL, validation_alias=AliasChoices("DEEPSEEK_BASE_URL", "deepseek_base_url")
    )
    flash_model: str = DEFAULT_FLASH_MODEL
    pro_model: str = DEFAULT_PRO_MODEL

    # S3-compatible stores (MinIO, Ceph, R2). boto3 also honours AWS_ENDPOINT_URL_S3 itself.
    s3_endpoint_url: str | None = None

    # A self-hosted V4-Flash endpoint (vLLM or SGLang), as the infra/ module serves it.
    selfhosted_base_url: str | None = None
    selfhosted_api_key: SecretStr | None = None
    selfhosted_model: str = DEFAULT_FLASH_MODEL
    selfhosted_ready_seconds: float = 900.0  # weights load from NVMe before /health answers

    # Dispatch: requests in flight at once (the client adapts down on 429).
    max_in_flight: int = Field(32, ge=1)
    # A wall-clock limit on one attempt (keep-alive lines reset a read timeout, not this), plus
    # this many seconds per max_tokens of output, and the first back-off before a retry.
    request_deadline_seconds: float = Field(900.0, gt=0)
    deadline_seconds_per_output_token: float = Field(0.05, ge=0)
    retry_backoff_seconds: float = Field(1.0, gt=0)
    account_limit: AccountLimit = "off"

    @property
    def models(self) -> ModelIds:
        return ModelIds(self.flash_model, self.pro_model)
