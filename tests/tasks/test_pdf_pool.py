"""The parser pool's limits, on real worker processes."""

from __future__ import annotations

from pathlib import Path

from nightshift.models import DocStatus
from tasks.pdf_pool import PdfLimits, PdfParserPool
from tests.fixtures.pdfs import make_pdf, write


def run_jobs(pool: PdfParserPool, jobs: list[tuple[str, Path]]) -> dict[str, object]:
    outcomes = {}
    for key, path in jobs:
        while not pool.has_room:
            outcomes.update({o.key: o for o in pool.collect()})
        pool.submit(key, str(path))
    while pool.busy:
        outcomes.update({o.key: o for o in pool.collect()})
    return outcomes


def test_a_pdf_over_its_time_budget_is_stopped_and_the_pool_goes_on(tmp_path: Path):
    small = write(tmp_path / "small.pdf", make_pdf([["one page"]]))
    # A budget of one second (opening the file fits in it even on a loaded machine) for a
    # document that needs many more to parse.
    dense = [[f"Line {n} of a long and dense page of contract text." for n in range(50)]] * 2000
    big = write(tmp_path / "big.pdf", make_pdf(dense))
    limits = PdfLimits(seconds_per_page=0.0005, min_seconds=1.0, page_seconds=1.0)
    with PdfParserPool(workers=1, limits=limits) as pool:
        warm = run_jobs(pool, [("warm", small)])  # the worker is up before the clock matters
        outcomes = run_jobs(pool, [("big", big), ("after", small)])
    assert warm["warm"].text.status is DocStatus.OK
    assert outcomes["big"].text.status is DocStatus.TIMEOUT
    # Stopped while parsing its pages, or, on a busy machine, while still opening them.
    assert outcomes["big"].text.reason.startswith(
        ("2000-page PDF passed its budget", "could not open the PDF within 1 s")
    )
    assert outcomes["after"].text.status is DocStatus.OK


def test_two_workers_parse_in_parallel_and_keep_order_free(tmp_path: Path):
    paths = [write(tmp_path / f"{n}.pdf", make_pdf([[f"document {n}"]] * 3)) for n in range(6)]
    with PdfParserPool(workers=2) as pool:
        outcomes = run_jobs(pool, [(str(n), p) for n, p in enumerate(paths)])
    assert sorted(outcomes) == [str(n) for n in range(6)]
    assert all(len(o.text.pages) == 3 for o in outcomes.values())
    assert outcomes["4"].text.pages[0].strip() == "document 4"
