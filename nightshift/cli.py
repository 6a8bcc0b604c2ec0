"""The ``nightshift`` command. Each command's body is one call into library code; only this
module turns the project's exceptions into exit codes and draws progress bars and tables."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nightshift.errors import ConfigError, NightshiftError, RunStoppingError
from nightshift.models import RunStatus
from nightshift.progress import ProgressEvent, ProgressHook, progress_hook
from nightshift.settings import OcrMode, PdfEngine, Settings

if TYPE_CHECKING:
    from flows.pipelines import IngestReport, ReviewResult
    from nightshift.options import ReviewOptions
    from tasks.price import PlanReport

T = TypeVar("T")

# Without a server, each command starts Prefect's ephemeral API, which needs longer than its
# 20 s default on a busy two-core machine; and nothing here should phone home.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

app = typer.Typer(
    name="nightshift",
    help="Batch review of long documents with DeepSeek V4, landing grounded results in DuckDB.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# Tables are read in terminals and in logs; when output is not a terminal, rich would wrap
# them at 80 columns, which truncates model names and quotes.
WIDTH_WHEN_PIPED = 140
console = Console(width=None if sys.stdout.isatty() else WIDTH_WHEN_PIPED)
# An error is one line, however narrow the terminal or log.
err_console = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="DuckDB file (default: $NIGHTSHIFT_DB or nightshift.duckdb)"),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


VERBOSE = {"on": False}  # set by --verbose: tracebacks instead of one-line errors


def run_guarded(call: Callable[[], T]) -> T:
    """Run library code, turning the project's exceptions into one-line errors and exit codes
    (2: configuration, 3: the run was stopped by the API, 1: anything else)."""
    try:
        return call()
    except ConfigError as exc:
        if VERBOSE["on"]:
            raise
        raise fail(str(exc), 2) from None
    except RunStoppingError as exc:
        if VERBOSE["on"]:
            raise
        raise fail(str(exc), 3) from None
    except NightshiftError as exc:
        if VERBOSE["on"]:
            raise
        raise fail(str(exc), 1) from None
    except (KeyboardInterrupt, typer.Exit):
        raise
    except Exception as exc:
        if VERBOSE["on"]:
            raise
        raise fail(f"{type(exc).__name__}: {exc} (run with --verbose for the traceback)") from None


@app.callback()
def main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress and show tracebacks")
    ] = False,
) -> None:
    VERBOSE["on"] = verbose
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def tracked(prefect: bool | None) -> bool:
    """Run as a tracked Prefect flow run? ``--prefect``/``--no-prefect`` decide; by default
    only when ``PREFECT_API_URL`` is set (read from the environment: importing Prefect to ask
    would cost seconds)."""
    if prefect is not None:
        return prefect
    return bool(os.environ.get("PREFECT_API_URL"))


@contextmanager
def prefect_api() -> Iterator[None]:
    """A Prefect API for a tracked run: the configured one, or a temporary local server that
    stops with the run (and dies with this process if it is killed)."""
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    from connectors.prefect_server import temporary_prefect_server

    err_console.print(
        "[dim]Tracking this run in Prefect: no PREFECT_API_URL is set, so a temporary local "
        "Prefect server is started for it.[/]"
    )
    with temporary_prefect_server() as url:
        os.environ["PREFECT_API_URL"] = url
        try:
            yield
        finally:
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=5)  # the run's logs reach the server before it stops
            del os.environ["PREFECT_API_URL"]


OcrOption = Annotated[
    OcrMode,
    typer.Option(
        help="OCR pages without a text layer with Tesseract: never, auto (only pages whose text "
        "layer is empty or nearly so) or always"
    ),
]

PrefectOption = Annotated[
    bool | None,
    typer.Option(
        "--prefect/--no-prefect",
        help="Run as a tracked Prefect flow run (default: only when PREFECT_API_URL is set)",
        show_default=False,
    ),
]


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="A folder, a file, or s3://bucket/prefix")],
    db: DbOption = None,
    include: Annotated[list[str], typer.Option(help="Glob to include (repeatable)")] = [],  # noqa: B006
    exclude: Annotated[list[str], typer.Option(help="Glob to exclude (repeatable)")] = [],  # noqa: B006
    pdf_engine: Annotated[
        PdfEngine | None, typer.Option(help="pypdf (default) or pdfium (needs the pdfium extra)")
    ] = None,
    max_file_mb: Annotated[float | None, typer.Option(help="Skip files larger than this")] = None,
    ocr: OcrOption = "never",
    prefect: PrefectOption = None,
) -> None:
    """Discover, parse and count every file of SOURCE and land one row per file in DuckDB."""
    from flows.preflight import check_database, check_ocr, check_source

    settings = Settings()
    overrides = {
        "db_path": db,
        "pdf_engine": pdf_engine,
        "max_file_bytes": int(max_file_mb * 1e6) if max_file_mb else None,
    }
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    run_guarded(lambda: check_source(source))
    run_guarded(lambda: check_ocr(ocr, settings))
    run_guarded(lambda: check_database(settings.db_path, False))
    with progress_bar() as show:
        token = progress_hook.set(show)
        try:
            if tracked(prefect):

                def tracked_ingest() -> IngestReport:
                    with prefect_api():
                        from flows.ingest import ingest_corpus

                        return ingest_corpus(source, str(settings.db_path), include, exclude,
                                             ocr)  # fmt: skip

                report = run_guarded(tracked_ingest)
            else:
                from flows.pipelines import ingest_pipeline

                report = run_guarded(
                    lambda: ingest_pipeline(source, settings, include, exclude, ocr=ocr)
                )
        finally:
            progress_hook.reset(token)
    table = Table(title=f"{report.files} files from {source} ({report.seconds:.1f} s)")
    for column in ("kind", "status", "files", "pages", "tokens", "MB"):
        table.add_column(column, justify="right" if column not in ("kind", "status") else "left")
    for row in report.rows:
        table.add_row(
            row["kind"], row["status"], str(row["files"]), str(row["pages"] or 0),
            f"{row['tokens'] or 0:,}", f"{(row['bytes'] or 0) / 1e6:.2f}",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"parsed {report.summary.parsed}, unchanged {report.summary.unchanged}, "
        f"reused {report.summary.copied}; database {settings.db_path}"
    )


@app.command()
def review(
    source: Annotated[str, typer.Argument(help="A folder, a file, or s3://bucket/prefix")],
    profile: Annotated[str, typer.Option(help="legal, codebase, or a profile .yaml")] = "legal",
    db: DbOption = None,
    plan: Annotated[
        bool, typer.Option("--plan", help="Price the run; send nothing, write nothing")
    ] = False,
    backend: Annotated[
        str, typer.Option(help="deepseek (needs DEEPSEEK_API_KEY), simulator or selfhosted")
    ] = "deepseek",
    budget: Annotated[float | None, typer.Option(help="Cap on this run's cost, USD")] = None,
    force: Annotated[bool, typer.Option(help="Review documents already reviewed")] = False,
    off_peak_only: Annotated[
        bool, typer.Option(help="Start only requests that finish inside the off-peak window")
    ] = False,
    allow_peak: Annotated[bool, typer.Option(help="With --off-peak-only: go on at peak")] = False,
    include: Annotated[list[str], typer.Option(help="Glob to include (repeatable)")] = [],  # noqa: B006
    exclude: Annotated[list[str], typer.Option(help="Glob to exclude (repeatable)")] = [],  # noqa: B006
    oracle: Annotated[
        Path | None,
        typer.Option(
            help="With --backend simulator: answer from this labels file (a perfect model, "
            "perturbed like a real one) instead of the simulator's rules"
        ),
    ] = None,
    oracle_exact: Annotated[
        bool, typer.Option(help="With --oracle: answer the labels verbatim, unperturbed")
    ] = False,
    ocr: OcrOption = "never",
    prefect: PrefectOption = None,
) -> None:
    """Review SOURCE with a profile and land grounded extractions in DuckDB."""
    from flows.preflight import review_options

    settings = Settings()
    if oracle is not None and backend != "simulator":
        raise fail("--oracle answers through the simulator: add --backend simulator", 2)
    if oracle is not None and not oracle.is_file():
        raise fail(f"labels file not found: {oracle}", 2)
    knobs = {"oracle": str(oracle), "oracle_exact": oracle_exact} if oracle else {}
    options = run_guarded(
        lambda: review_options(
            settings, source=source, profile=profile, db=str(db) if db else None,
            budget_usd=budget, plan_only=plan, force=force, backend=backend,
            off_peak_only=off_peak_only, allow_peak=allow_peak, include=tuple(include),
            exclude=tuple(exclude), simulator=knobs, ocr=ocr,
        )
    )  # fmt: skip
    result = run_review(options, settings, track=tracked(prefect) and not plan)
    print_review(result)
    if result.status == RunStatus.FAILED:
        reason = result.summary.status_reason if result.summary else None
        raise fail(reason or "the run failed", 3)


def run_review(options: ReviewOptions, settings: Settings, track: bool) -> ReviewResult:
    """Run the review pipeline, as a tracked Prefect flow run when ``track``, drawing progress."""
    with progress_bar() as show:
        token = progress_hook.set(show)
        try:
            if track:

                def tracked_review() -> ReviewResult:
                    with prefect_api():
                        from flows.review import review_corpus

                        return review_corpus(**options.model_dump())

                return run_guarded(tracked_review)
            from flows.pipelines import review_pipeline

            return run_guarded(lambda: review_pipeline(options, settings))
        finally:
            progress_hook.reset(token)


@contextmanager
def progress_bar() -> Iterator[ProgressHook]:
    """A progress bar on stderr for long work, fed with ``ProgressEvent``s."""
    with Progress(
        TextColumn("[bold]{task.fields[stage]}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", style="dim"),
        console=err_console,
        transient=True,
    ) as progress:
        bar = progress.add_task("", total=None, stage="starting")

        def show(event: ProgressEvent) -> None:
            progress.update(bar, completed=event.done, total=event.total,
                            description=event.detail[-50:], stage=event.stage)  # fmt: skip

        yield show


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 and column == "model" else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def print_review(result: ReviewResult) -> None:
    from tasks.report import BY_MODEL_COLUMNS, SUMMARY_COLUMNS

    if result.plan is not None:
        print_plan(result.plan, result.skipped)
        return
    summary = result.summary
    assert summary is not None
    console.print(f"[bold]Backend:[/] {result.backend}")
    skipped = summary.skipped_line()
    if summary.totals["documents"] == 0 and skipped is not None:
        console.print(skipped)
        return
    print_table(f"review {result.run_id}: {result.status}", SUMMARY_COLUMNS,
                [summary.totals_row()])  # fmt: skip
    print_table("requests by model", BY_MODEL_COLUMNS, summary.by_model_rows())
    for line in (summary.planned_line(), summary.savings_line(), skipped):
        if line is not None:
            console.print(line)
    if summary.status_reason:
        console.print(f"[yellow]{result.status}:[/] {summary.status_reason}")


def print_plan(report: PlanReport, skipped: int) -> None:
    from tasks.price import ALTERNATIVE_COLUMNS, PLAN_COLUMNS, alternative_rows, plan_rows

    print_table("plan: nothing was sent", PLAN_COLUMNS, plan_rows(report))
    console.print(
        f"{report.documents} documents in {report.work_items} work items ({report.windows} "
        f"windows); expected cache-hit share {report.cache_hit_share:.1%}"
        + (f"; {skipped} documents already reviewed, skipped" if skipped else "")
    )
    if report.floor_off_peak_usd:
        console.print(
            f"Floor (every token once on {report.floor_model}, off-peak): "
            f"${report.floor_off_peak_usd:.4f}; this plan is {report.floor_ratio:.2f}x the floor."
        )
    if report.alternatives:
        print_table("the same tokens on every model of the price book", ALTERNATIVE_COLUMNS,
                    alternative_rows(report))  # fmt: skip
    hosted = report.selfhosted
    if hosted:
        console.print(
            f"Self-hosted instead: ${hosted['usd']:.2f} for {hosted['billed_node_hours']:.2f} "
            f"billed node-hours ({hosted['wall_clock_hours']:.2f} h wall clock), assuming "
            f"{hosted['assumptions']}."
        )


DEMO_QUERIES = {
    "Which contracts have uncapped liability, and where exactly?": (
        "SELECT relpath AS contract, page, left(quote, 90) AS quote FROM latest_extractions "
        "WHERE profile = 'legal' AND field = 'uncapped_liability' ORDER BY contract, page"
    ),
    "Security findings in the codebase, by severity": (
        "SELECT file || ':' || line AS location, field AS finding, "
        "value ->> 'severity' AS severity, value ->> 'cwe' AS cwe FROM latest_extractions "
        "WHERE profile = 'codebase' ORDER BY severity, location"
    ),
}


@app.command()
def demo(db: DbOption = None, prefect: PrefectOption = True) -> None:
    """Review sample_data/ (contracts with `legal`, the codebase with `codebase`) and query it."""
    from connectors.store import Store
    from flows.preflight import review_options

    settings = Settings()
    db_path = db or settings.db_path
    key = settings.deepseek_api_key
    if key is not None and key.get_secret_value().strip():
        backend = "deepseek"
        console.print("[bold]DEEPSEEK_API_KEY is set: the demo uses the real DeepSeek API.[/]")
    else:
        backend = "simulator"
        console.print(
            "[bold yellow]DEEPSEEK_API_KEY is not set: this demo runs against nightshift's "
            "LOCAL SIMULATOR[/] (rule-based answers, nothing leaves this machine). "
            "Set DEEPSEEK_API_KEY to review with the real API."
        )
    with ExitStack() as tracking:
        if prefect:  # one Prefect API for both runs: Prefect reads its API's address once
            run_guarded(lambda: tracking.enter_context(prefect_api()))
        for source, profile in (
            ("sample_data/contracts", "legal"),
            ("sample_data/codebase", "codebase"),
        ):
            console.rule(f"nightshift review {source} --profile {profile} --backend {backend}")
            values = {"source": source, "profile": profile, "db": str(db_path), "backend": backend}
            options = run_guarded(lambda: review_options(settings, **values))  # noqa: B023
            print_review(run_review(options, settings, track=bool(prefect)))
    with Store(db_path) as store:
        for question, sql in DEMO_QUERIES.items():
            console.rule(question)
            console.print(f"[dim]{sql}[/]")
            print_rows(store.query_dicts(sql))
    console.print(f"Results are in {db_path}; run `make demo` again and it sends 0 requests.")


def print_rows(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("(no rows)")
        return
    table = Table()
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)


@app.command()
def windows(
    count: Annotated[int, typer.Option(help="How many windows to list")] = 7,
    tz: Annotated[str, typer.Option(help="Local time zone to show beside UTC")] = "UTC",
) -> None:
    """The next off-peak (discount) windows, in UTC and a local time zone."""
    from nightshift.offpeak import format_windows

    rows = run_guarded(lambda: format_windows(datetime.now(UTC), count, tz))
    local = tz.upper() != "UTC"  # the same columns twice say nothing
    columns = ["start UTC", "end UTC"] + ([f"start {tz}", f"end {tz}"] if local else [])
    table = Table(title="DeepSeek off-peak windows (from the packaged calendar)")
    for column in (*columns, "hours", "rule"):
        table.add_column(column)
    for row in rows:
        cells = [f"{row.start_utc:%a %Y-%m-%d %H:%M}", f"{row.end_utc:%a %Y-%m-%d %H:%M}"]
        if local:
            cells += [f"{row.start_local:%a %H:%M}", f"{row.end_local:%a %H:%M}"]
        table.add_row(*cells, f"{row.duration.total_seconds() / 3600:.1f}", row.rule)
    console.print(table)


@app.command()
def simulator(
    port: Annotated[int, typer.Option(help="Loopback port to listen on")] = 8765,
    flavour: Annotated[str, typer.Option(help="deepseek or vllm")] = "deepseek",
    latency_per_output_token: Annotated[float, typer.Option(help="Seconds")] = 0.0,
    seconds_per_request: Annotated[float, typer.Option(help="Seconds added to each answer")] = 0.0,
    oracle: Annotated[
        Path | None, typer.Option(help="Answer from this labels file instead of the rules")
    ] = None,
) -> None:
    """Run the local DeepSeek-compatible simulator (for tests and demos; not the real API)."""
    from connectors.simulator import serve
    from connectors.simulator_oracle import Oracle
    from flows.preflight import check_port_free

    run_guarded(lambda: check_port_free("127.0.0.1", port))
    answers = run_guarded(lambda: Oracle.from_path(oracle)) if oracle else None
    run_guarded(
        lambda: serve(
            port, flavour=flavour, seconds_per_output_token=latency_per_output_token,
            seconds_per_request=seconds_per_request, oracle=answers,
        )
    )  # fmt: skip


@app.command(name="eval")
def evaluate(
    labels: Annotated[Path, typer.Argument(help="Labels: CUAD-style .jsonl, or findings .json")],
    db: DbOption = None,
    run: Annotated[
        str | None, typer.Option(help="A run id (default: the latest run per document)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here")] = None,
    min_f1: Annotated[float | None, typer.Option(help="Exit 4 when overall F1 is lower")] = None,
    min_recall: Annotated[
        float | None, typer.Option(help="Exit 4 when overall recall is lower")
    ] = None,
    min_words: Annotated[
        int, typer.Option(help="Leave out labelled spans and quotes of fewer words")
    ] = 0,
) -> None:
    """Score extractions against labels: precision, recall, F1 per field, grounding, cost."""
    from tasks.evaluate import evaluate_run

    path = existing_database(db)
    if not labels.is_file():
        raise fail(f"labels file not found: {labels}", 2)
    report = run_guarded(lambda: evaluate_run(path, labels, run, min_words=min_words))
    columns = ("field", "labelled", "predicted", "correct", "found", "precision", "recall", "f1")
    rows = [
        [str(row[c]) if not isinstance(row[c], float) else f"{row[c]:.3f}" for c in columns]
        for row in report.table_rows()
    ]
    print_table(f"eval against {labels.name}: {report.documents} documents", columns, rows)
    rates = ", ".join(f"{kind} {share:.1%}" for kind, share in report.grounding_rates().items())
    console.print(f"grounded extractions by match: {rates or 'none'}")
    for cost in report.models:
        per = cost.cost_per_correct
        each = f", ${per:.5f} per correct extraction" if per else ""
        console.print(f"{cost.model}: ${cost.cost_usd:.4f}{each}")
    if json_out is not None:
        json_out.write_text(report.to_json(), encoding="utf-8")
        console.print(f"report written to {json_out}")
    total = report.total
    if min_f1 is not None and (total.f1 or 0.0) < min_f1:
        raise fail(f"F1 {total.f1 or 0.0:.3f} is under --min-f1 {min_f1}", 4)
    if min_recall is not None and (total.recall or 0.0) < min_recall:
        raise fail(f"recall {total.recall or 0.0:.3f} is under --min-recall {min_recall}", 4)


def existing_database(db: Path | None) -> Path:
    """The database to read, which must exist (hinting at the demo's when none is named)."""
    path = Path(db or Settings().db_path)
    if not path.exists():
        hint = " (`make demo` writes demo.duckdb: add --db demo.duckdb)" if db is None else ""
        raise fail(f"no database at {path}{hint}", 2)
    return path


@app.command()
def export(
    to: Annotated[
        str | None, typer.Option("--to", help="Parquet: a folder or s3://bucket/prefix")
    ] = None,
    db: DbOption = None,
    format: Annotated[str, typer.Option(help="parquet (tables) or sarif (findings)")] = "parquet",
    out: Annotated[Path | None, typer.Option(help="SARIF: the file to write")] = None,
    run: Annotated[str | None, typer.Option(help="SARIF: a codebase run (default: latest)")] = None,
    without_fixed: Annotated[
        bool, typer.Option(help="SARIF: leave fixed findings out (for code scanning)")
    ] = False,
) -> None:
    """Write the tables as Parquet partitioned by run, or a codebase run's findings as SARIF."""
    path = existing_database(db)
    if format == "sarif":
        from connectors.sarif import export_sarif

        if out is None:
            raise fail("--format sarif needs --out FILE", 2)
        written = run_guarded(lambda: export_sarif(path, out, run, None, not without_fixed))
        console.print(f"{written['results']} results of run {written['run_id']} written to {out}")
        return
    if format != "parquet" or to is None:
        raise fail("choose --format parquet --to DIR, or --format sarif --out FILE", 2)
    from connectors.export import export_tables

    client = None
    if to.startswith("s3://"):
        from connectors.s3 import make_s3_client

        client = make_s3_client(endpoint_url=Settings().s3_endpoint_url)
    result = run_guarded(lambda: export_tables(path, to, s3_client=client))
    for written_path in result.written:
        console.print(written_path)
    if result.missing:
        console.print(f"[yellow]not in the database (skipped):[/] {', '.join(result.missing)}")


@app.command()
def matrix(
    profile: Annotated[
        str, typer.Option(help="The profile whose fields are the columns")
    ] = "legal",
    run: Annotated[str | None, typer.Option(help="Only the contracts of this review run")] = None,
    format: Annotated[str, typer.Option(help="table, csv or xlsx")] = "table",
    out: Annotated[Path | None, typer.Option(help="csv / xlsx: the file to write")] = None,
    db: DbOption = None,
) -> None:
    """The clause matrix: a row per contract family, a column per field (value in force, state)."""
    if format not in ("table", "csv", "xlsx"):
        raise fail(f"unknown format {format!r}: choose table, csv or xlsx", 2)
    if format != "table" and out is None:
        raise fail(f"--format {format} needs --out FILE", 2)
    from connectors.store import Store
    from tasks.matrix import ClauseMatrix, clause_matrix, write_csv

    path = existing_database(db)

    def read() -> ClauseMatrix:
        with Store(path) as store:
            return clause_matrix(store, profile, run)

    found = run_guarded(read)
    if format == "table":
        print_table(
            f"clause matrix: {found.profile}" + (f", run {run}" if run else ""),
            ["field", *(row.label for row in found.rows)],
            [[field, *(row.cell(field).display for row in found.rows)] for field in found.columns],
        )
        return
    target = Path(str(out))
    if format == "csv":
        run_guarded(lambda: write_csv(found, target))
    else:
        from tasks.matrix_xlsx import write_xlsx

        run_guarded(lambda: write_xlsx(found, target))
    console.print(f"{len(found.rows)} contracts x {len(found.columns)} fields written to {target}")


@app.command()
def runs(
    db: DbOption = None,
    limit: Annotated[int, typer.Option(help="How many runs to list", min=1)] = 20,
) -> None:
    """Recent review runs: source, profile, backend, status, documents, requests and cost."""
    from connectors.store import Store
    from tasks.run_report import RUNS_COLUMNS, recent_runs

    path = existing_database(db)

    def listed() -> list[list[str]]:
        with Store(path) as store:
            return recent_runs(store, limit)

    rows = run_guarded(listed)
    if not rows:
        console.print(f"no review run in {path} yet")
        return
    table = Table(title=f"the latest {len(rows)} review runs in {path}")
    for column in RUNS_COLUMNS:
        numeric = column in ("documents", "requests", "cost USD")
        whole = column in ("run", "started (UTC)")  # an id cut short cannot be passed to --run
        table.add_column(column, justify="right" if numeric else "left", no_wrap=whole)
    for row in rows:
        table.add_row(*row)
    console.print(table)


@app.command()
def report(
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write")],
    run: Annotated[
        str | None, typer.Option(help="A review run id (default: the latest review run)")
    ] = None,
    db: DbOption = None,
) -> None:
    """Write one run's report as a self-contained HTML file (opens offline, prints)."""
    from tasks.report_html import write_report

    path = existing_database(db)
    written = run_guarded(lambda: write_report(path, out, run, datetime.now(UTC)))
    console.print(f"report of {written.run['run_id']} written to {out}")


@app.command()
def suppress(
    fingerprint: Annotated[str, typer.Argument(help="The finding's fingerprint")],
    reason: Annotated[str, typer.Option(help="Why the finding is accepted")],
    db: DbOption = None,
) -> None:
    """Accept a codebase finding: from the next run on it is reported as suppressed."""
    from connectors.store import Store, utc_now
    from tasks.findings import suppress_finding

    path = existing_database(db)

    def record() -> None:
        with Store(path) as store:
            suppress_finding(store, fingerprint, reason, utc_now())

    run_guarded(record)
    console.print(f"suppressed {fingerprint}: {reason}")


if __name__ == "__main__":
    app()
