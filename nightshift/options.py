"""The options of a review run: one object for the CLI, the flow and the deployments.

Validated when built, so a misspelt backend or a meaningless budget fails before anything is
read or started.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nightshift.settings import OcrMode

BackendName = Literal["deepseek", "simulator", "selfhosted"]
BACKENDS: tuple[str, ...] = ("deepseek", "simulator", "selfhosted")


class ReviewOptions(BaseModel):
    """What to review, how, and within which limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="A folder, a file, or s3://bucket/prefix")
    profile: str = Field("legal", description="legal, codebase, or a profile .yaml")
    db: str | None = Field(None, description="DuckDB file (default: $NIGHTSHIFT_DB)")
    budget_usd: float | None = Field(None, description="Cap on this run's cost, USD")
    plan_only: bool = Field(False, description="Price the run; send nothing, write nothing")
    force: bool = Field(False, description="Review documents already reviewed")
    backend: BackendName = Field(
        "deepseek", description="deepseek (needs DEEPSEEK_API_KEY), simulator or selfhosted"
    )
    off_peak_only: bool = Field(
        False, description="Start only requests that finish inside the off-peak window"
    )
    allow_peak: bool = Field(False, description="With off_peak_only: go on at peak prices")
    deadline: datetime | None = Field(
        None, description="With off_peak_only: continue at peak when waiting would miss this"
    )
    include: tuple[str, ...] = Field((), description="Globs to include")
    exclude: tuple[str, ...] = Field((), description="Globs to exclude")
    ocr: OcrMode = Field(
        "never", description="OCR pages without a text layer: never, auto or always (Tesseract)"
    )
    simulator: dict[str, Any] = Field(
        default_factory=dict, description="Simulator settings (tests and demos only)"
    )
    shard_index: int = Field(0, ge=0, description="With shard_count: which shard to review")
    shard_count: int = Field(
        1, ge=1, description="Review only one of this many shards (families kept whole)"
    )

    @field_validator("budget_usd")
    @classmethod
    def _finite_budget(cls, value: float | None) -> float | None:
        if value is not None and (not math.isfinite(value) or value <= 0):
            raise ValueError(f"the budget must be a positive number of USD, got {value}")
        return value
