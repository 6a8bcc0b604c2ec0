"""Flows run under Prefect's test harness: a temporary API for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.pipelines import ReviewResult
from flows.review import review_corpus
from nightshift.options import ReviewOptions


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=180):
        yield


def run_flow(**values: Any) -> ReviewResult:
    """The review-corpus flow with options given as keywords, as a deployment passes them."""
    return review_corpus(**ReviewOptions(**values).model_dump())
