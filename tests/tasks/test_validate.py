"""Validating answers: local repair, schema, grounding, truncation."""

from __future__ import annotations

import json

import pytest

from nightshift.models import DocKind
from tasks.ground import GroundingIndex
from tasks.prompt import DocumentView
from tasks.validate import check_answer, parse_answer

CONTRACT = "MASTER AGREEMENT\fThis Agreement shall be governed by the laws of Delaware.\f"
CONTRACT_PAGES = (0, 17)
CODE = "import os\n\ndef run(cmd):\n    os.system(cmd)\n"
VIEWS = [
    DocumentView("d1", "msa.pdf", DocKind.PDF, CONTRACT, CONTRACT_PAGES),
    DocumentView("d2", "src/run.py", DocKind.CODE, CODE),
]
INDEXES = {
    "d1": GroundingIndex(CONTRACT, CONTRACT_PAGES),
    "d2": GroundingIndex(CODE),
}
GOOD = {
    "extractions": [
        {"doc_id": "d1", "field": "governing_law", "value": "Delaware",
         "quote": "governed by the laws of Delaware"},
        {"doc_id": "d2", "field": "command_injection", "value": {"severity": "critical"},
         "quote": "os.system(cmd)", "line": 4},
    ]
}  # fmt: skip
ASKED = ["governing_law", "command_injection", "parties"]


def check(content: str, finish_reason: str | None = "stop", asked=ASKED):
    return check_answer(content, finish_reason, VIEWS, asked, INDEXES)


def test_clean_answer_lands_grounded_with_page_and_line():
    result = check(json.dumps(GOOD))
    assert not result.invalid_json and not result.repaired and not result.needs_escalation
    assert result.problems == ()
    law, injection = result.extractions
    assert law.grounded and law.page == 2 and law.line is None and law.file is None
    assert CONTRACT[law.char_start : law.char_end] == "governed by the laws of Delaware"
    assert injection.grounded and injection.file == "src/run.py" and injection.line == 4
    assert injection.page is None and injection.value == {"severity": "critical"}


@pytest.mark.parametrize(
    "content",
    [
        "```json\n" + json.dumps(GOOD, indent=2) + "\n```",
        "```\n" + json.dumps(GOOD) + "\n```\n",
        "Here is the answer:\n" + json.dumps(GOOD) + "\nI hope this helps.",
        "Sure.\n```json\n" + json.dumps(GOOD) + "\n```\nDone.",
        json.dumps(GOOD, indent=1).replace('"line": 4', '"line": 4,').replace("]", ",]"),
    ],
    ids=["fenced-json", "fenced", "prose-around", "prose-and-fence", "trailing-commas"],
)
def test_repairable_answers_are_repaired(content):
    payload, repaired = parse_answer(content)
    assert repaired and payload == GOOD
    result = check(content)
    assert result.repaired and not result.invalid_json
    assert [e.field for e in result.extractions] == ["governing_law", "command_injection"]


@pytest.mark.parametrize("content", ["", "I could not find anything.", "{not json", "[1, 2]",
                                     '{"answer": []}', '{"extractions": "none"}'])  # fmt: skip
def test_garbage_is_invalid_json(content):
    result = check(content)
    assert result.invalid_json and result.needs_escalation and result.extractions == ()
    assert result.problems and result.problems[0].startswith("invalid answer")


def test_unknown_doc_ids_and_unasked_fields_are_reported_not_landed():
    answer = {"extractions": [
        {"doc_id": "d9", "field": "governing_law", "value": "x", "quote": "Delaware"},
        {"doc_id": "d1", "field": "non_compete", "value": "x", "quote": "Delaware"},
        {"doc_id": "msa.pdf", "field": "governing_law", "value": "DE",
         "quote": "the laws of Delaware"},
        "not an object",
    ]}  # fmt: skip
    result = check(json.dumps(answer))
    assert len(result.problems) == 3
    assert "unknown doc_id 'd9'" in result.problems[0]
    assert "'non_compete' was not asked" in result.problems[1]
    assert "not an object" in result.problems[2]
    # a document named by its file name instead of its id is still accepted
    assert [(e.doc_id, e.field) for e in result.extractions] == [("d1", "governing_law")]
    assert result.ungrounded_fields == frozenset()


def test_ungrounded_quotes_are_flagged_and_still_landed():
    answer = {"extractions": [
        {"doc_id": "d1", "field": "governing_law", "value": "NY",
         "quote": "governed by the laws of New York"},
        {"doc_id": "d1", "field": "parties", "value": "Alpha", "quote": ""},
        {"doc_id": "d2", "field": "command_injection", "value": {}, "quote": "os.system(cmd)"},
    ]}  # fmt: skip
    result = check(json.dumps(answer))
    assert result.ungrounded_fields == {"governing_law", "parties"}
    assert result.needs_escalation
    law = result.extractions[0]
    assert not law.grounded and law.char_start is None and law.quote.endswith("New York")
    assert [e.field for e in result.extractions] == ["governing_law", "command_injection"]
    assert any("has no quote" in p for p in result.problems)


def test_length_finish_is_truncated():
    cut = json.dumps(GOOD)[:60]
    result = check(cut, finish_reason="length")
    assert result.truncated and result.invalid_json and result.needs_escalation
    assert "finish_reason=length" in result.problems[0]
    complete = check(json.dumps(GOOD), finish_reason="length")
    assert complete.truncated and not complete.invalid_json and complete.needs_escalation


def test_window_extraction_carries_its_window_and_finds_quotes_beyond_it():
    text = "Preamble of the deal.\nGoverning law: Delaware.\nEnd."
    window = DocumentView("d3", "long.txt", DocKind.TEXT, text, (), 22, None, 1, "2/2")
    answer = {"extractions": [
        {"doc_id": "d3", "field": "governing_law", "value": "DE",
         "quote": "Governing law: Delaware"},
        {"doc_id": "d3", "field": "parties", "value": "?", "quote": "preamble of the deal"},
    ]}  # fmt: skip
    result = check_answer(json.dumps(answer), "stop", [window], ASKED,
                          {"d3": GroundingIndex(text)})  # fmt: skip
    law, parties = result.extractions
    assert law.window == "2/2" and law.line == 2 and law.match == "exact"
    assert parties.grounded and parties.char_start == 0 and parties.match == "normalized"


def test_non_string_field_is_a_problem_not_a_crash():
    answer = {"extractions": [{"doc_id": "d1", "field": ["governing_law"], "quote": "Delaware"}]}
    result = check(json.dumps(answer))
    assert result.extractions == () and "was not asked" in result.problems[0]


def test_braces_in_surrounding_prose_do_not_hide_the_object():
    content = "Fields {as asked}:\n" + json.dumps(GOOD) + "\nSee {notes}."
    payload, _repaired = parse_answer(content)
    assert payload == GOOD


# -- quotes that cannot support a value ---------------------------------------------------


@pytest.mark.parametrize("quote", ["the", "Section", "of it", "  of  "])
def test_a_quote_too_short_to_support_a_value_is_not_grounded_nor_escalated(quote):
    answer = {"extractions": [{"doc_id": "d1", "field": "governing_law", "value": "Delaware",
                               "quote": quote}]}  # fmt: skip
    result = check(json.dumps(answer))
    assert [e.grounded for e in result.extractions] == [False]
    # A stronger model would quote a short answer just as short: no reason to climb.
    assert result.ungrounded_fields == frozenset()
    assert "too short" in result.problems[0]


def test_one_specific_word_is_enough_to_support_a_value():
    text = "MASTER\fIndemnification\nEach party shall indemnify the other.\f"
    view = DocumentView("h", "h.pdf", DocKind.PDF, text, (0, 7))
    answer = {"extractions": [{"doc_id": "h", "field": "f", "value": "Yes",
                               "quote": "Indemnification"}]}  # fmt: skip
    result = check_answer(json.dumps(answer), "stop", [view], ["f"],
                          {"h": GroundingIndex(text, (0, 7))})  # fmt: skip
    assert [(e.grounded, e.page) for e in result.extractions] == [(True, 2)]


def test_a_short_line_of_code_still_grounds_but_a_bare_keyword_does_not():
    code = "import os\nos.system(cmd)\npass\n"
    view = DocumentView("c", "a.py", DocKind.CODE, code)
    answer = {"extractions": [
        {"doc_id": "c", "field": "x", "value": {}, "quote": "os.system(cmd)", "line": 2},
        {"doc_id": "c", "field": "y", "value": {}, "quote": "pass", "line": 3},
    ]}  # fmt: skip
    result = check_answer(json.dumps(answer), "stop", [view], ["x", "y"],
                          {"c": GroundingIndex(code)})  # fmt: skip
    assert [(e.field, e.grounded, e.line) for e in result.extractions] == [
        ("x", True, 2), ("y", False, 3)]  # fmt: skip


RENEWAL = "MASTER\fThis Agreement renews unless either party gives 60 days notice (Section 4).\f"


@pytest.mark.parametrize(
    ("value", "grounded"),
    [("60 days", True), (60, True), ("90 days", False), (90, False), ("$90", False),
     ("sixty days", True), ("4", True), ("2023-03-03", True), ("successive 5 years", True),
     ("Yes", True), (True, True), ({"days": 90}, True), (90.0, False),
     ("a long summary that mentions 90 days of notice before the renewal date", True)],
)  # fmt: skip
def test_a_number_in_a_short_value_must_appear_in_its_quote(value, grounded):
    view = DocumentView("r", "r.pdf", DocKind.PDF, RENEWAL, (0, 7))
    quote = "either party gives 60 days notice (Section 4)"
    answer = {"extractions": [{"doc_id": "r", "field": "f", "value": value, "quote": quote}]}
    result = check_answer(json.dumps(answer), "stop", [view], ["f"],
                          {"r": GroundingIndex(RENEWAL, (0, 7))})  # fmt: skip
    assert [e.grounded for e in result.extractions] == [grounded]
    assert (result.ungrounded_fields == {"f"}) is not grounded


def test_a_number_spelled_out_in_the_quote_is_not_contradicted():
    text = "Either party may end it on ninety (90) days notice under Section 4."
    view = DocumentView("t", "t.txt", DocKind.TEXT, text)
    answer = {"extractions": [{"doc_id": "t", "field": "f", "value": "30 days",
                               "quote": text}]}  # fmt: skip
    result = check_answer(json.dumps(answer), "stop", [view], ["f"], {"t": GroundingIndex(text)})
    assert result.extractions[0].grounded  # "ninety" may be what the value means: not judged


def test_a_date_value_agrees_with_a_quote_that_spells_the_date_out():
    text = "This Agreement is dated as of March 3, 2023 by the parties."
    view = DocumentView("t", "t.txt", DocKind.TEXT, text)
    answer = {"extractions": [{"doc_id": "t", "field": "f", "value": "2023-03-03",
                               "quote": "dated as of March 3, 2023"}]}  # fmt: skip
    result = check_answer(json.dumps(answer), "stop", [view], ["f"], {"t": GroundingIndex(text)})
    assert result.extractions[0].grounded and result.extractions[0].match == "exact"


def test_the_models_line_number_picks_the_repeated_line_it_means():
    code = "try:\n    a()\nexcept Exception: pass\ntry:\n    b()\nexcept Exception: pass\n"
    view = DocumentView("c", "a.py", DocKind.CODE, code)
    answer = {"extractions": [
        {"doc_id": "c", "field": "x", "value": {}, "quote": "except Exception: pass", "line": 3},
        {"doc_id": "c", "field": "x", "value": {}, "quote": "except Exception: pass", "line": 6},
    ]}  # fmt: skip
    result = check_answer(json.dumps(answer), "stop", [view], ["x"], {"c": GroundingIndex(code)})
    assert [e.line for e in result.extractions] == [3, 6]


def test_every_asked_field_of_every_document_ends_answered_absent_or_missing():
    views = [
        DocumentView("d1", "a.txt", DocKind.TEXT, "The term is one year from signing."),
        DocumentView("d2", "b.txt", DocKind.TEXT, "Nothing relevant is written here."),
    ]
    indexes = {v.doc_id: GroundingIndex(v.text) for v in views}
    answer = json.dumps({
        "extractions": [{"doc_id": "d1", "field": "term", "value": "1 year",
                         "quote": "The term is one year from signing."}],
        "absent": [{"doc_id": "d2", "field": "term"}, {"field": "governing_law"},
                   {"doc_id": "d9", "field": "term"}, {"doc_id": "d1", "field": "not_asked"}],
    })  # fmt: skip
    check = check_answer(answer, "stop", views, ["term", "governing_law", "renewal"], indexes)
    states = {(o.doc_id, o.field): str(o.state) for o in check.outcomes}
    assert states == {
        ("d1", "term"): "answered", ("d1", "governing_law"): "absent", ("d1", "renewal"): "missing",
        ("d2", "term"): "absent", ("d2", "governing_law"): "absent", ("d2", "renewal"): "missing",
    }  # fmt: skip


def test_an_unreadable_answer_leaves_every_field_missing():
    views = [DocumentView("d1", "a.txt", DocKind.TEXT, "Some text.")]
    check = check_answer("not json", "length", views, ["term"], {"d1": GroundingIndex("x")})
    assert [(o.doc_id, o.field, str(o.state)) for o in check.outcomes] == [
        ("d1", "term", "missing")
    ]
