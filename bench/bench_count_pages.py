"""Page token starts: ``count_documents`` versus the per-page method it replaced, by page count.

The old method found each page's first token through ``encoding.char_to_token`` and then read
``encoding.offsets[token]``; that property copies every offset of the document on each access, so
the work grew with pages times tokens (135 s for one 3,000-page PDF). ``count_documents`` reads
the offsets once per encoded piece and bisects. Both sides count the same synthetic multi-page
texts (contract-like lines, one per page) in the same run; the ``speed-up`` column is the old
method's time over the new one's, and the tokens and page starts of both must agree.

    python bench/bench_count_pages.py [--pages 250 500 1000] [--large 3000]

``--large`` rows run the new method alone: the old one would take minutes there.
"""

from __future__ import annotations

import argparse
import time

from tokenizers import Encoding

from nightshift.models import DocKind, DocStatus, ParsedDocument
from nightshift.tokenizer import load_tokenizer
from tasks.count import count_documents

PAGE_TEXT = (
    "Page {n}. The Supplier shall deliver the Products listed in Schedule {n} within thirty days "
    "of each Purchase Order, and clause {n} governs late delivery, credits and termination.\n"
) * 8


def make_document(pages: int) -> ParsedDocument:
    texts = [PAGE_TEXT.format(n=n) for n in range(pages)]
    starts, position = [], 0
    for text in texts:
        starts.append(position)
        position += len(text) + 1
    text = "\f".join(texts)
    return ParsedDocument("bench", "bench.pdf", f"bench-{pages}", DocKind.PDF, len(text),
                          DocStatus.OK, text=text, page_starts=tuple(starts))  # fmt: skip


def old_first_token_at(encoding: Encoding, position: int, length: int) -> int:
    for char in range(position, length):
        token = encoding.char_to_token(char)
        if token is None:
            continue
        start, _end = encoding.offsets[token]
        return token if start >= position else token + 1
    return len(encoding.ids)


def old_count(document: ParsedDocument) -> tuple[int, tuple[int, ...]]:
    # encode_batch, as the old count_documents did, so both sides encode alike.
    [encoding] = load_tokenizer().encode_batch([document.text], add_special_tokens=False)
    starts = tuple(
        old_first_token_at(encoding, p, len(document.text)) for p in document.page_starts
    )
    return len(encoding.ids), starts


def new_count(document: ParsedDocument) -> tuple[int, tuple[int, ...]]:
    [count] = count_documents([document])
    return count.tokens, count.page_token_starts


def timed(run, document: ParsedDocument) -> tuple[float, tuple[int, tuple[int, ...]]]:
    start = time.perf_counter()
    result = run(document)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[250, 500, 1000])
    parser.add_argument("--large", type=int, nargs="*", default=[3000, 30000])
    args = parser.parse_args()
    load_tokenizer().encode("warm up", add_special_tokens=False)
    print(f"{'pages':>7} {'tokens':>10} {'old s':>8} {'new s':>8} {'speed-up':>9}  agree")
    for pages in args.pages:
        document = make_document(pages)
        new_s, new = timed(new_count, document)
        old_s, old = timed(old_count, document)
        print(f"{pages:>7} {new[0]:>10} {old_s:>8.2f} {new_s:>8.2f} {old_s / new_s:>8.1f}x  "
              f"{'yes' if old == new else 'NO'}")  # fmt: skip
    for pages in args.large:
        document = make_document(pages)
        new_s, new = timed(new_count, document)
        print(f"{pages:>7} {new[0]:>10} {'-':>8} {new_s:>8.2f} {'-':>9}  (new method only)")


if __name__ == "__main__":
    main()
