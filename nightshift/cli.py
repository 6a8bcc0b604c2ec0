"""The ``nightshift`` command. Each command's body is one call into library code; only this
module turns the project's exceptions into exit codes and draws progress bars and tables."""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nightshift.errors import ConfigError, NightshiftError, RunStoppingError
from nightshift.progress import ProgressEvent, ProgressHook, progress_hook
from nightshift.settings import PdfEngine, Settings

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
err_console = Console(stderr=True)

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="DuckDB file (default: $NIGHTSHIFT_DB or nightshift.duckdb)"),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def run_guarded(call):  # type: ignore[no-untyped-def]
    """Run library code, turning the project's exceptions into one-line errors and exit codes."""
    try:
        return call()
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    except RunStoppingError as exc:
        raise fail(str(exc), 3) from None
    except NightshiftError as exc:
        raise fail(str(exc), 1) from None


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


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
) -> None:
    """Discover, parse and count every file of SOURCE and land one row per file in DuckDB."""
    from flows.ingest import run_ingest
    from tasks.ingest import IngestProgress

    settings = Settings()
    overrides = {
        "db_path": db,
        "pdf_engine": pdf_engine,
        "max_file_bytes": int(max_file_mb * 1e6) if max_file_mb else None,
    }
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    run_id = f"ingest-{uuid.uuid4().hex[:12]}"
    with progress_bar() as show:

        def on_progress(event: IngestProgress) -> None:
            show(ProgressEvent("ingest", event.files_done, event.files_seen, event.current))

        report = run_guarded(
            lambda: run_ingest(source, settings, run_id, include, exclude, on_progress)
        )
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
    plan: Annotated[bool, typer.Option("--plan", help="Price the run; send nothing")] = False,
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
) -> None:
    """Review SOURCE with a profile and land grounded extractions in DuckDB."""
    parameters = {
        "source": source, "profile": profile, "db": str(db) if db else None,
        "budget_usd": budget, "plan_only": plan, "force": force, "backend": backend,
        "off_peak_only": off_peak_only, "allow_peak": allow_peak,
        "include": include, "exclude": exclude,
    }  # fmt: skip
    result = run_review_flow(parameters)
    print_review(result)
    if result["status"] == "failed":
        raise fail(result["summary"].get("status_reason") or "the run failed", 3)


def run_review_flow(parameters: dict[str, Any]) -> dict[str, Any]:
    """Run the review flow (Prefect's ephemeral mode when no server is set), drawing progress."""
    from flows.review import review_corpus

    with progress_bar() as show:
        token = progress_hook.set(show)
        try:
            return run_guarded(lambda: review_corpus(**parameters))
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


def print_review(result: dict[str, Any]) -> None:
    if result["plan"] is not None:
        print_plan(result["plan"])
        return
    s = result["summary"]
    console.print(f"[bold]Backend:[/] {result['backend']}")
    table = Table(title=f"review {result['run_id']}: {result['status']}")
    for column in (
        "documents",
        "work items",
        "requests",
        "prompt tokens",
        "cache-hit tokens",
        "cost USD",
        "extractions",
        "grounded",
        "failed items",
        "pending items",
    ):
        table.add_column(column, justify="right")
    grounded = s["grounded"] / s["extractions"] if s["extractions"] else 0.0
    table.add_row(
        str(s["documents"]),
        str(s["work_items"]),
        str(s["requests"]),
        f"{s['prompt_tokens']:,}",
        f"{s['cache_hit_tokens']:,}",
        f"{s['cost_usd']:.4f}",
        str(s["extractions"]),
        f"{grounded:.0%}",
        str(s["failed_items"]),
        str(s["pending_items"]),
    )
    console.print(table)
    by_model = Table(title="requests by model")
    for column in (
        "model",
        "requests",
        "attempts",
        "prompt tokens",
        "cache-hit",
        "output",
        "cost USD",
    ):
        by_model.add_column(column, justify="left" if column == "model" else "right")
    for row in s["by_model"]:
        by_model.add_row(
            row["model"],
            str(row["requests"]),
            str(row["attempts"]),
            f"{row['prompt_tokens'] or 0:,}",
            f"{row['cache_hit_tokens'] or 0:,}",
            f"{row['completion_tokens'] or 0:,}",
            f"{row['cost_usd'] or 0:.4f}",
        )
    console.print(by_model)
    if s["cost_usd"] > 0:
        console.print(
            f"Saved ${s['peak_cost_usd'] - s['cost_usd']:.4f} versus peak prices and "
            f"${s['all_pro_cost_usd'] - s['cost_usd']:.4f} versus sending everything to Pro."
        )
    if s.get("status_reason"):
        console.print(f"[yellow]{result['status']}:[/] {s['status_reason']}")


def print_plan(report: dict[str, Any]) -> None:
    table = Table(title="plan: nothing was sent")
    for column in (
        "model",
        "requests",
        "prompt tokens",
        "predicted cache-hit",
        "output (est.)",
        "USD off-peak",
        "USD peak",
    ):
        table.add_column(column, justify="left" if column == "model" else "right")
    for model, row in sorted(report["by_model"].items()):
        table.add_row(
            model,
            f"{row['requests']:.0f}",
            f"{row['prompt_tokens']:,.0f}",
            f"{row['cache_hit_tokens']:,.0f}",
            f"{row['output_tokens']:,.0f}",
            f"{row['off_peak_usd']:.4f}",
            f"{row['peak_usd']:.4f}",
        )
    r = report
    table.add_row(
        "total", str(r["requests"]), f"{r['prompt_tokens']:,}",
        f"{r['predicted_cache_hit_tokens']:,}", f"{r['expected_output_tokens']:,}",
        f"{r['off_peak_usd']:.4f}", f"{r['peak_usd']:.4f}", style="bold",
    )  # fmt: skip
    console.print(table)
    console.print(
        f"{r['documents']} documents in {r['work_items']} work items ({r['windows']} windows); "
        f"expected cache-hit share {r['cache_hit_share']:.1%}"
    )
    hosted = r["selfhosted"]
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
def demo(db: DbOption = None) -> None:
    """Review sample_data/ (contracts with `legal`, the codebase with `codebase`) and query it."""
    from connectors.store import Store

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
    for source, profile in (
        ("sample_data/contracts", "legal"),
        ("sample_data/codebase", "codebase"),
    ):
        console.rule(f"nightshift review {source} --profile {profile} --backend {backend}")
        result = run_review_flow(
            {"source": source, "profile": profile, "db": str(db_path), "backend": backend}
        )
        print_review(result)
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
    table = Table(title="DeepSeek off-peak windows (from the packaged calendar)")
    for column in ("start UTC", "end UTC", f"start {tz}", f"end {tz}", "hours", "rule"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            f"{row.start_utc:%a %Y-%m-%d %H:%M}", f"{row.end_utc:%a %Y-%m-%d %H:%M}",
            f"{row.start_local:%a %H:%M}", f"{row.end_local:%a %H:%M}",
            f"{row.duration.total_seconds() / 3600:.1f}", row.rule,
        )  # fmt: skip
    console.print(table)


@app.command()
def simulator(
    port: Annotated[int, typer.Option(help="Loopback port to listen on")] = 8765,
    flavour: Annotated[str, typer.Option(help="deepseek or vllm")] = "deepseek",
    latency_per_output_token: Annotated[float, typer.Option(help="Seconds")] = 0.0,
) -> None:
    """Run the local DeepSeek-compatible simulator (for tests and demos; not the real API)."""
    from connectors.simulator import serve

    run_guarded(
        lambda: serve(port, flavour=flavour, seconds_per_output_token=latency_per_output_token)
    )


@app.command()
def export(
    to: Annotated[str, typer.Option("--to", help="A folder or s3://bucket/prefix")],
    db: DbOption = None,
) -> None:
    """Write documents, runs, requests and extractions as Parquet, partitioned by run."""
    from connectors.export import export_tables

    settings = Settings()
    client = None
    if to.startswith("s3://"):
        from connectors.s3 import make_s3_client

        client = make_s3_client(endpoint_url=settings.s3_endpoint_url)
    result = run_guarded(lambda: export_tables(db or settings.db_path, to, s3_client=client))
    for written in result.written:
        console.print(written)
    if result.missing:
        console.print(f"[yellow]not in the database (skipped):[/] {', '.join(result.missing)}")


if __name__ == "__main__":
    app()
