"""Build the sample contract PDFs from their source texts, and check the result.

The contracts in ``contracts/`` that are PDFs are generated from the plain-text sources in
``sources/``: ``sources/<name>.md`` becomes ``contracts/<name>.pdf`` (sub-folders are kept, so
``sources/harrowgate-bellwether/x.md`` becomes ``contracts/harrowgate-bellwether/x.pdf``).

Usage (from the repository root, with reportlab and pypdf installed)::

    python sample_data/build_pdfs.py            # regenerate every PDF, then check
    python sample_data/build_pdfs.py --check    # only check the committed files

Source format (a small subset of Markdown):

* ``# Title`` - the document title (first line);
* ``## Heading`` - a section heading;
* blocks are separated by blank lines; a one-line block is a justified paragraph; a block of
  several lines (signature blocks, addresses) keeps its line breaks.

The PDFs use the standard Times fonts (not embedded), so they stay small, and their text layer is
real text. Every paragraph is kept on one page (never split across a page break), so no clause
sentence is interrupted by the page footer. The build is reproducible: the same sources give
byte-identical PDFs.

The check verifies, with pypdf, that every page has text, that every paragraph of the source is
found verbatim in the extracted text once whitespace is collapsed (nothing lost, no hyphenation),
that page counts and sizes are in range, and that every key sentence listed in
``contracts.expected.json`` occurs in its document.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources"
CONTRACTS = HERE / "contracts"
EXPECTED = HERE / "contracts.expected.json"

MIN_PAGES, MAX_PAGES = 3, 10
MAX_BYTES = 100_000


# --------------------------------------------------------------------------------------------
# Source parsing


def parse_source(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Return (title, blocks); each block is (kind, text) with kind in heading/para/lines."""
    title = ""
    blocks: list[tuple[str, str]] = []
    for raw in re.split(r"\n\s*\n", text.strip()):
        lines = [line.rstrip() for line in raw.strip().splitlines() if line.strip()]
        if not lines:
            continue
        if lines[0].startswith("# ") and not title:
            title = lines[0][2:].strip()
            lines = lines[1:]
            if not lines:
                continue
        if len(lines) == 1 and lines[0].startswith("## "):
            blocks.append(("heading", lines[0][3:].strip()))
        elif len(lines) == 1:
            blocks.append(("para", lines[0]))
        else:
            blocks.append(("lines", "\n".join(lines)))
    return title, blocks


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def pdf_path_for(source: Path) -> Path:
    return CONTRACTS / source.relative_to(SOURCES).with_suffix(".pdf")


# --------------------------------------------------------------------------------------------
# Building


def build_pdf(source: Path, target: Path) -> None:
    from reportlab import rl_config
    from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT
    from reportlab.lib.pagesizes import LETTER
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import inch
    from reportlab.pdfgen import canvas as rl_canvas
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer

    rl_config.invariant = 1  # no timestamps or random ids: reproducible output

    title, blocks = parse_source(source.read_text(encoding="utf-8"))
    footer_title = title.title()

    body = ParagraphStyle(
        "body", fontName="Times-Roman", fontSize=11, leading=14, alignment=TA_JUSTIFY,
        spaceAfter=7,
    )
    lines_style = ParagraphStyle("lines", parent=body, alignment=TA_LEFT, spaceBefore=6)
    heading = ParagraphStyle(
        "heading", fontName="Times-Bold", fontSize=11.5, leading=15, spaceBefore=9,
        spaceAfter=5, keepWithNext=1,
    )
    title_style = ParagraphStyle(
        "title", fontName="Times-Bold", fontSize=15, leading=19, alignment=TA_CENTER,
        spaceAfter=14,
    )

    class NumberedCanvas(rl_canvas.Canvas):
        """Defers page output so that the footer can say "Page n of N"."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._saved_pages: list[dict] = []

        def showPage(self):  # noqa: N802 - reportlab API
            self._saved_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved_pages)
            for state in self._saved_pages:
                self.__dict__.update(state)
                self.setFont("Times-Roman", 9)
                self.drawCentredString(
                    LETTER[0] / 2, 0.55 * inch,
                    f"{footer_title} - Page {self._pageNumber} of {total}",
                )
                super().showPage()
            super().save()

    story = [Paragraph(escape(title), title_style)]
    for kind, text in blocks:
        if kind == "heading":
            story.append(Paragraph(escape(text), heading))
        elif kind == "para":
            story.append(KeepTogether([Paragraph(escape(text), body)]))
        else:
            html = "<br/>".join(escape(line) for line in text.splitlines())
            story.append(KeepTogether([Paragraph(html, lines_style)]))
    story.append(Spacer(1, 6))

    target.parent.mkdir(parents=True, exist_ok=True)
    doc = SimpleDocTemplate(
        str(target), pagesize=LETTER, leftMargin=1.1 * inch, rightMargin=1.1 * inch,
        topMargin=1.0 * inch, bottomMargin=1.0 * inch, title=title.title(),
        author="nightshift sample data (fictional)",
        subject="Fictional sample contract written for the nightshift project",
        creator="sample_data/build_pdfs.py",
    )
    doc.build(story, canvasmaker=NumberedCanvas)


# --------------------------------------------------------------------------------------------
# Checking


def extract_pages(pdf: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(str(pdf)).pages]


def check() -> list[str]:
    problems: list[str] = []
    sources = sorted(SOURCES.rglob("*.md"))
    texts: dict[str, str] = {}

    for source in sources:
        pdf = pdf_path_for(source)
        rel = pdf.relative_to(CONTRACTS).as_posix()
        if not pdf.exists():
            problems.append(f"{rel}: missing (run build_pdfs.py)")
            continue
        size = pdf.stat().st_size
        if size >= MAX_BYTES:
            problems.append(f"{rel}: {size} bytes, not under {MAX_BYTES}")
        pages = extract_pages(pdf)
        if not MIN_PAGES <= len(pages) <= MAX_PAGES:
            problems.append(f"{rel}: {len(pages)} pages, expected {MIN_PAGES}-{MAX_PAGES}")
        for number, page_text in enumerate(pages, 1):
            if len(page_text.split()) < 20:
                problems.append(f"{rel}: page {number} has almost no text")
            if not re.search(rf"Page {number} of {len(pages)}", page_text):
                problems.append(f"{rel}: page {number} footer not found")
        extracted = collapse(" ".join(pages))
        texts[rel] = extracted
        title, blocks = parse_source(source.read_text(encoding="utf-8"))
        for _kind, block in [("title", title), *blocks]:
            if collapse(block) not in extracted:
                problems.append(f"{rel}: source text not found in PDF: {block[:70]!r}")
        print(f"{rel}: {len(pages)} pages, {size:,} bytes, {len(extracted.split()):,} words")

    for path in sorted(CONTRACTS.rglob("*")):
        if path.is_file() and path.suffix in {".txt", ".md"}:
            rel = path.relative_to(CONTRACTS).as_posix()
            texts[rel] = collapse(path.read_text(encoding="utf-8"))
            print(f"{rel}: {len(texts[rel].split()):,} words")

    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    listed = set(expected["documents"])
    for rel in sorted(set(texts) - listed):
        problems.append(f"{rel}: not listed in {EXPECTED.name}")
    for rel, entry in expected["documents"].items():
        if rel not in texts:
            problems.append(f"{EXPECTED.name}: {rel} does not exist")
            continue
        for category, sentence in entry["clauses"].items():
            if category not in expected["categories"]:
                problems.append(f"{rel}: unknown category {category}")
            if not sentence.endswith("."):
                problems.append(f"{rel}: {category} sentence does not end with a period")
            if collapse(sentence) not in texts[rel]:
                problems.append(f"{rel}: {category} sentence not found: {sentence[:70]!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, do not rebuild")
    args = parser.parse_args(argv)
    if not args.check:
        for source in sorted(SOURCES.rglob("*.md")):
            target = pdf_path_for(source)
            build_pdf(source, target)
            print(f"built {target.relative_to(HERE).as_posix()}")
    problems = check()
    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
