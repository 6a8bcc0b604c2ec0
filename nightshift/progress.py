"""An optional progress hook that the CLI sets and long stages call; libraries never draw bars."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    stage: str  # ingest | dispatch
    done: int
    total: int | None
    detail: str = ""


ProgressHook = Callable[[ProgressEvent], None]

progress_hook: ContextVar[ProgressHook | None] = ContextVar("progress_hook", default=None)


def report_progress(event: ProgressEvent) -> None:
    hook = progress_hook.get()
    if hook is not None:
        hook(event)
