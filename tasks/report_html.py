"""A run report as one self-contained HTML file: inline CSS, no script, nothing fetched, so it
opens from a mail attachment or a shared drive, and prints (landscape, colours kept).

Jinja2 escapes every value (autoescape): quotes come from untrusted documents.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from connectors.store import Store
from nightshift.errors import StoreError
from tasks.matrix import STATES, CellState
from tasks.run_report import RunReport, build_report

TEMPLATE = "run_report.html.j2"
SYMBOLS: dict[CellState, str] = {"found": "✓", "absent": "–", "failed": "!", "not reviewed": "?"}


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.4f}"


def _tokens(value: int | None) -> str:
    return f"{value or 0:,}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _share(part: int | None, whole: int | None) -> float | None:
    return (part or 0) / whole if whole else None


def _when(at: datetime | None) -> str:
    return "not finished" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_report(report: RunReport, generated: datetime) -> str:
    environment = Environment(
        loader=PackageLoader("tasks", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    run = report.run

    def saving(comparison: float | None) -> float | None:
        return None if comparison is None else comparison - run["cost_usd"]

    return environment.get_template(TEMPLATE).render(
        report=report, run=run, backend_label=report.backend_label,
        states=STATES, symbols=SYMBOLS,
        usd=_usd, tokens=_tokens, pct=_pct, share=_share, when=_when, saving=saving,
        generated=_when(generated),
    )  # fmt: skip


def report_path(db: Path, run_id: str) -> Path:
    """Where a flow run writes its report: ``reports/<run id>.html`` beside the database."""
    return db.parent / "reports" / f"{run_id}.html"


def write_report(db: Path, out: Path, run_id: str | None, generated: datetime) -> RunReport:
    """Render the report of ``run_id`` (default: the latest review run) in ``db`` to ``out``."""
    with Store(db) as store:
        report = build_report(store, run_id)
    html = render_report(report, generated)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"cannot write the report to {out}: {exc.strerror}") from exc
    return report


def report_markdown(report: RunReport, path: Path) -> str:
    """A few lines pointing at the HTML report, for a Prefect artifact."""
    run = report.run
    lines = [
        f"# nightshift review `{run['run_id']}`: the report",
        "",
        f"Open **`{path.resolve()}`** in a browser (one self-contained file, opens offline).",
        "",
        f"- {run['source']}, profile {run['profile']}, backend {run['backend']}"
        + (" (simulated)" if run["simulated"] else ""),
        f"- cost {_usd(run['cost_usd'])} (planned {_usd(run['planned_usd'])}), "
        f"cache-hit share {_pct(report.cache_hit_share)}, {len(report.failures)} failures",
    ]
    if report.matrix is not None:
        rows = report.matrix.matrix.rows
        counts = dict.fromkeys(STATES, 0)
        for row in rows:
            for state, count in row.state_counts().items():
                counts[state] += count
        fields = ", ".join(f"{count} {state}" for state, count in counts.items())
        lines.append(f"- {len(rows)} contracts; fields: {fields}")
    if report.findings is not None:
        found = ", ".join(f"{n} {state}" for state, n in report.finding_counts().items())
        lines.append(f"- findings: {found}")
    return "\n".join(lines)
