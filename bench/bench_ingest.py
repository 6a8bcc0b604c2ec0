"""Ingest and token-count throughput of the pipeline, versus raw pypdf, pypdfium2 and tokenizers.

Every row is measured in the same run on the same PDFs of one corpus folder (files of other types
are left out, so that both sides do the same work):

- ``pipeline <engine>``: ``ingest_source`` from a ``LocalSource`` into a fresh DuckDB file in a
  temporary directory, with ``--workers`` parser processes (default 2). The wall time includes
  discovery, hashing, starting the parser processes, parsing, token counting and landing; the
  tokenizer is loaded beforehand, as a long run loads it once.
- ``raw pypdf`` / ``raw pdfium``: one child process runs a plain loop (open, extract every page's
  text, next file) with the library alone; only the loop is timed. The child isolates this process
  from a native crash; a file that raises is counted as failed and the loop goes on.

The ``vs raw`` columns are the row's throughput over the raw baseline's in the same repetition
(median over ``--repeat``): above 1.00 the row is faster. With 2 workers on 2 idle cores the
pipeline's ideal is about 2x its engine's raw loop; a shared machine gives less.

The token table counts the texts the first engine's pipeline run landed: the pipeline's
``count_documents`` (batch-encoded, page offsets) against ``Tokenizer.encode_batch`` and a plain
``Tokenizer.encode`` loop on the same texts, all without special tokens.

    python bench/bench_ingest.py [CORPUS] [--engines pypdf pdfium] [--repeat 1] [--workers 2]

CORPUS defaults to $NIGHTSHIFT_BENCH_CORPUS, then to the project's sample_data/contracts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers import Tokenizer

from connectors.local import LocalSource
from connectors.paths import PathFilter
from connectors.store import Store
from nightshift.models import DocKind, DocStatus, ParsedDocument
from nightshift.tokenizer import load_tokenizer, tokenizer_path
from tasks.count import count_documents
from tasks.ingest import IngestOptions, ingest_source

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "sample_data" / "contracts"
CORPUS_ENV = "NIGHTSHIFT_BENCH_CORPUS"
ENGINES = ("pypdf", "pdfium")
PDF_FILTER = PathFilter.of(["*.[pP][dD][fF]"])
RAW_TIMEOUT_SECONDS = 3600.0
SLOWEST_SHOWN = 3


@dataclass
class Measure:
    """One timed pass over the corpus."""

    seconds: float
    files: int
    pages: int
    nbytes: int
    statuses: dict[str, int] = field(default_factory=dict)  # files per outcome
    problems: list[str] = field(default_factory=list)  # "relpath: status or error"
    slowest: list[tuple[float, str]] = field(default_factory=list)  # raw rows only


# --- raw baselines (run in a child process) ------------------------------------------------


def _raw_pypdf(path: str) -> int:
    from pypdf import PdfReader

    reader = PdfReader(path)
    for page in reader.pages:
        page.extract_text()
    return len(reader.pages)


def _raw_pdfium(path: str) -> int:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(path)
    try:
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            textpage.get_text_bounded()
            textpage.close()
            page.close()
        return len(document)
    finally:
        document.close()


RAW_EXTRACTORS: dict[str, Callable[[str], int]] = {"pypdf": _raw_pypdf, "pdfium": _raw_pdfium}


def raw_child(engine: str) -> None:
    """Child side of ``raw_run``: paths as JSON on stdin, one JSON result on stdout."""
    import logging

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # as in the parser workers
    extract = RAW_EXTRACTORS[engine]
    # Import the library before the clock starts: an import is not extraction time.
    if engine == "pdfium":
        import pypdfium2  # noqa: F401
    else:
        import pypdf  # noqa: F401
    paths: list[str] = json.load(sys.stdin)
    pages = 0
    problems: list[str] = []
    per_file: list[tuple[float, str]] = []
    start = time.perf_counter()
    for path in paths:
        file_start = time.perf_counter()
        try:
            pages += extract(path)
        except Exception as exc:  # a plain loop survives a bad file, nothing more
            problems.append(f"{path}: {type(exc).__name__}: {' '.join(str(exc).split())[:120]}")
        per_file.append((time.perf_counter() - file_start, path))
    seconds = time.perf_counter() - start
    slowest = sorted(per_file, reverse=True)[:SLOWEST_SHOWN]
    json.dump({"seconds": seconds, "pages": pages, "problems": problems, "slowest": slowest},
              sys.stdout)  # fmt: skip


def raw_run(engine: str, root: Path, paths: list[str], nbytes: int, timeout: float) -> Measure:
    try:
        child = subprocess.run(
            [sys.executable, __file__, "--raw-child", engine],
            input=json.dumps(paths),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        sys.exit(f"raw {engine}: the loop did not finish within {timeout:.0f} s (--raw-timeout)")
    if child.returncode != 0:  # a native crash or a bug: no baseline, no ratios
        sys.exit(f"raw {engine}: the loop exited with {child.returncode}:\n{child.stderr[-2000:]}")
    out = json.loads(child.stdout)
    strip = len(str(root)) + 1
    return Measure(
        out["seconds"],
        len(paths),
        out["pages"],
        nbytes,
        {"ok": len(paths) - len(out["problems"]), "raised": len(out["problems"])},
        [problem[strip:] for problem in out["problems"]],
        [(seconds, path[strip:]) for seconds, path in out["slowest"]],
    )


# --- the pipeline --------------------------------------------------------------------------


def pipeline_run(
    engine: str, root: Path, workers: int, run_id: str
) -> tuple[Measure, list[ParsedDocument]]:
    """One ingest into a fresh database; also the texts it landed, for the token table."""
    options = IngestOptions(pdf_engine=engine, workers=workers)
    with (
        tempfile.TemporaryDirectory(prefix="nightshift-bench-") as scratch,
        Store(Path(scratch) / "bench.duckdb") as store,
    ):
        start = time.perf_counter()
        summary = ingest_source(LocalSource(root, PDF_FILTER), store, options, run_id)
        seconds = time.perf_counter() - start
        rows = store.query(
            "SELECT relpath, status, status_reason FROM documents "
            "WHERE status NOT IN ('ok', 'empty_text') ORDER BY relpath"
        )
        texts = store.query("SELECT doc_id, text, page_starts FROM document_texts")
    problems = [f"{relpath}: {status}: {reason}" for relpath, status, reason in rows]
    if summary.copied:
        problems.append(f"({summary.copied} files copied as duplicates of others, not parsed)")
    documents = [
        ParsedDocument("", "", doc_id, DocKind.PDF, len(text), DocStatus.OK, text=text,
                       page_starts=tuple(starts or ()))
        for doc_id, text, starts in texts
    ]  # fmt: skip
    statuses: Counter[str] = Counter()
    for (_kind, status), files in summary.by_kind_status.items():
        statuses[status] += files
    measure = Measure(
        seconds, summary.files, summary.pages, summary.bytes, dict(statuses), problems
    )
    return measure, documents


# --- token counting ------------------------------------------------------------------------


@dataclass(frozen=True)
class CountMeasure:
    seconds: float
    cpu_seconds: float  # this process, all threads: above ``seconds`` when a batch runs parallel
    tokens: int


def count_pipeline(documents: Sequence[ParsedDocument]) -> int:
    return sum(count.tokens for count in count_documents(documents))


def count_batch(tokenizer: Tokenizer, texts: list[str]) -> int:
    return sum(len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False))


def count_loop(tokenizer: Tokenizer, texts: list[str]) -> int:
    return sum(len(tokenizer.encode(text, add_special_tokens=False).ids) for text in texts)


def _cpu_seconds() -> float:
    """CPU of this process, all its threads (the tokenizer's included)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def timed_count(count: Callable[[], int]) -> CountMeasure:
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    tokens = count()
    return CountMeasure(time.perf_counter() - start, _cpu_seconds() - cpu_start, tokens)


def count_bench(documents: list[ParsedDocument], repeat: int) -> dict[str, list[CountMeasure]]:
    """Each way of counting, warmed once (BPE caches, thread pool), then timed ``repeat`` times."""
    tokenizer = Tokenizer.from_file(tokenizer_path())
    texts = [document.text for document in documents]
    ways: dict[str, Callable[[], int]] = {
        "pipeline count_docs": lambda: count_pipeline(documents),
        "raw encode_batch": lambda: count_batch(tokenizer, texts),
        "raw encode loop": lambda: count_loop(tokenizer, texts),
    }
    for count in ways.values():
        count()
    results: dict[str, list[CountMeasure]] = {name: [] for name in ways}
    for _ in range(repeat):
        for name, count in ways.items():
            results[name].append(timed_count(count))
    return results


# --- reporting -----------------------------------------------------------------------------


def paired_ratio(rows: list[Measure], baselines: list[Measure]) -> float:
    """Median over repetitions of the row's throughput over the baseline's (same files)."""
    return statistics.median(
        base.seconds / row.seconds for row, base in zip(rows, baselines, strict=True)
    )


def print_ingest_table(results: dict[str, list[Measure]], baselines: list[str]) -> None:
    head = f"{'row':<16}{'files':>6}{'pages':>7}{'MB':>7}{'wall s':>8}"
    head += f"{'files/s':>9}{'pages/s':>9}{'MB/s':>7}"
    print(head + "".join(f"{'vs ' + name:>15}" for name in baselines))
    for name, runs in results.items():
        wall = statistics.median(m.seconds for m in runs)
        last = runs[-1]
        line = (
            f"{name:<16}{last.files:>6}{last.pages:>7}{last.nbytes / 1e6:>7.1f}{wall:>8.2f}"
            f"{last.files / wall:>9.2f}{last.pages / wall:>9.1f}"
            f"{last.nbytes / 1e6 / wall:>7.2f}"
        )
        for base in baselines:
            line += f"{paired_ratio(runs, results[base]):>15.2f}"
        print(line)


def print_count_table(
    results: dict[str, list[CountMeasure]], text_bytes: int, label: str, documents: int
) -> None:
    print(f"\ntoken counting: {documents} texts landed by {label}, {text_bytes / 1e6:.2f} MB UTF-8")
    names = list(results)
    print(
        f"{'row':<22}{'tokens':>10}{'s':>8}{'cpu s':>8}{'MB/s':>8}{'tokens/s':>11}  "
        + "".join(f"{'vs ' + n:>19}" for n in names[1:])
    )
    for name, runs in results.items():
        seconds = statistics.median(m.seconds for m in runs)
        cpu = statistics.median(m.cpu_seconds for m in runs)
        tokens = runs[-1].tokens
        line = f"{name:<22}{tokens:>10}{seconds:>8.3f}{cpu:>8.2f}{text_bytes / 1e6 / seconds:>8.2f}"
        line += f"{tokens / seconds:>11.0f}  "
        for base in names[1:]:
            ratio = statistics.median(
                b.seconds / r.seconds for r, b in zip(runs, results[base], strict=True)
            )
            line += f"{ratio:>19.2f}"
        print(line)
    counts = {name: runs[-1].tokens for name, runs in results.items()}
    if len(set(counts.values())) > 1:
        print(f"NOTE: the token counts differ: {counts}")


def print_notes(results: dict[str, list[Measure]]) -> None:
    for name, runs in results.items():
        last = runs[-1]
        outcomes = ", ".join(f"{status} {files}" for status, files in sorted(last.statuses.items()))
        print(f"  {name}: {outcomes}")
        for problem in last.problems:
            print(f"  {name}: {problem}")
        if last.slowest:
            slow = ", ".join(f"{path} {seconds:.1f} s" for seconds, path in last.slowest)
            print(f"  {name} slowest: {slow}")
    pages = {name: runs[-1].pages for name, runs in results.items()}
    if len(set(pages.values())) > 1:
        print(f"  pages differ between rows (failed or timed-out files count none): {pages}")


# --- entry point ---------------------------------------------------------------------------


def corpus_root(argument: str | None) -> Path:
    root = Path(argument or os.environ.get(CORPUS_ENV) or DEFAULT_CORPUS).expanduser()
    if not root.is_dir():
        sys.exit(f"corpus folder not found: {root}")
    return root.absolute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", help=f"a folder of PDFs (default ${CORPUS_ENV})")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--repeat", type=int, default=1, help="repetitions; medians are shown")
    parser.add_argument(
        "--count-repeat", type=int, default=3, help="repetitions of the (cheap) token table"
    )
    parser.add_argument("--workers", type=int, default=2, help="parser processes of the pipeline")
    parser.add_argument(
        "--raw-timeout",
        type=float,
        default=RAW_TIMEOUT_SECONDS,
        help="seconds a raw baseline may take before the bench gives up",
    )
    parser.add_argument("--raw-child", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_child:
        return raw_child(args.raw_child)

    root = corpus_root(args.corpus)
    refs = [ref for ref in LocalSource(root, PDF_FILTER).discover() if ref.problem is None]
    if not refs:
        sys.exit(f"no PDFs under {root}")
    paths = [ref.uri for ref in refs]
    nbytes = sum(ref.size for ref in refs)
    print(f"corpus {root}: {len(paths)} PDFs, {nbytes / 1e6:.1f} MB; repeat {args.repeat}, "
          f"pipeline with {args.workers} workers, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    load_tokenizer()  # loaded once per run in production too; not part of any row

    results: dict[str, list[Measure]] = {}
    texts: list[ParsedDocument] = []
    for repetition in range(args.repeat):
        for engine in args.engines:
            results.setdefault(f"raw {engine}", []).append(
                raw_run(engine, root, paths, nbytes, args.raw_timeout)
            )
            measure, landed = pipeline_run(engine, root, args.workers, f"bench-{repetition}")
            results.setdefault(f"pipeline {engine}", []).append(measure)
            texts = texts or landed
            print(f"  repetition {repetition + 1}: {engine} done", file=sys.stderr, flush=True)
    ordered = {name: results[name] for prefix in ("raw", "pipeline")
               for name in results if name.startswith(prefix)}  # fmt: skip
    print()
    print_ingest_table(ordered, [f"raw {engine}" for engine in args.engines])
    print("\nfiles by outcome, then each failure other than empty_text (last repetition):")
    print_notes(ordered)

    if not texts:
        print("\nno text landed; no token table")
        return None
    counts = count_bench(texts, args.count_repeat)
    text_bytes = sum(len(document.text.encode()) for document in texts)
    print_count_table(counts, text_bytes, f"pipeline {args.engines[0]}", len(texts))
    return None


if __name__ == "__main__":
    main()
