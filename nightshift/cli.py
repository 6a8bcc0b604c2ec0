"""The ``nightshift`` command. Each command's body is one call into library code; only this
module turns the project's exceptions into exit codes and draws progress bars and tables."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nightshift.errors import ConfigError, NightshiftError, RunStoppingError
from nightshift.settings import PdfEngine, Settings

app = typer.Typer(
    name="nightshift",
    help="Batch review of long documents with DeepSeek V4, landing grounded results in DuckDB.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
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

    settings = Settings()
    overrides = {
        "db_path": db,
        "pdf_engine": pdf_engine,
        "max_file_bytes": int(max_file_mb * 1e6) if max_file_mb else None,
    }
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    run_id = f"ingest-{uuid.uuid4().hex[:12]}"
    with Progress(
        TextColumn("[bold]ingest[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", style="dim"),
        console=err_console,
        transient=True,
    ) as progress:
        bar = progress.add_task("discovering", total=None)

        def on_progress(event) -> None:  # type: ignore[no-untyped-def]
            progress.update(
                bar,
                completed=event.files_done,
                total=event.files_seen,
                description=event.current[-60:],
            )

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


if __name__ == "__main__":
    app()
