"""A later night of a repository: what context fits, which files are related, the diff, and
what an answer about a context file becomes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from nightshift.models import DocKind, ModelIds
from nightshift.profiles import load_profile
from nightshift.tokenizer import count_tokens
from tasks.ground import GroundingIndex
from tasks.plan import Budget
from tasks.prompt import DocumentView, build_messages
from tasks.review_context import (
    RepositoryContext,
    RepositoryFile,
    add_context,
    choose_context,
    module_names,
    related_files,
    unified_diff,
)
from tasks.review_plan import PlanInputs, plan_review
from tasks.route import ProfileRouter
from tasks.validate import FieldState, check_answer

CODEBASE = load_profile("codebase")
MODELS = ModelIds("flash-x", "pro-x")
NIGHT_ONE = datetime(2026, 5, 1, 23, tzinfo=UTC)


def doc_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def repo_file(relpath: str, text: str, since: datetime = NIGHT_ONE) -> RepositoryFile:
    return RepositoryFile(doc_id(relpath + text), relpath, DocKind.CODE, count_tokens(text),
                          text.count("\n") + 1, text, since)  # fmt: skip


def changed_view(relpath: str, text: str) -> DocumentView:
    return DocumentView(doc_id(relpath + text), relpath, DocKind.CODE, text)


BILLING = "from ledger import post\n\n\ndef charge(amount):\n    return post(amount)\n"
LEDGER = "def post(amount):\n    return amount\n"
WEB = "import billing\n\n\ndef handle(request):\n    return billing.charge(request.amount)\n"
UNRELATED = "".join(f"def helper_{n}(x):\n    return x + {n}\n\n\n" for n in range(200))


def test_module_names_of_files_and_packages() -> None:
    assert module_names("src/billing.py") == {"billing"}
    assert module_names("src/billing/__init__.py") == {"billing"}
    assert module_names("web/index.ts") == {"web"}
    assert module_names("index.ts") == set()


def test_related_files_are_importers_and_imported_modules() -> None:
    files = [repo_file("ledger.py", LEDGER), repo_file("utils.py", UNRELATED),
             repo_file("web.py", WEB)]  # fmt: skip
    related = related_files([changed_view("billing.py", BILLING)], files)
    assert [f.relpath for f in related] == ["ledger.py", "web.py"]


def test_whole_repository_when_it_fits_else_the_related_files_that_fit() -> None:
    files = (repo_file("ledger.py", LEDGER), repo_file("utils.py", UNRELATED),
             repo_file("web.py", WEB))  # fmt: skip
    context = RepositoryContext(files, {})
    changed = [changed_view("billing.py", BILLING)]
    everything = sum(f.cost for f in files)
    assert choose_context(changed, context, everything) == list(files)
    assert [f.relpath for f in choose_context(changed, context, everything - 1)] == [
        "ledger.py", "web.py",
    ]  # fmt: skip
    only_one = files[0].cost
    assert [f.relpath for f in choose_context(changed, context, only_one)] == ["ledger.py"]


def test_unified_diff_marks_the_changed_lines() -> None:
    after = BILLING.replace("return post(amount)", "return post(amount * 100)")
    diff = unified_diff(BILLING, after, "billing.py")
    assert diff.splitlines()[:2] == ["--- a/billing.py", "+++ b/billing.py"]
    assert "-    return post(amount)" in diff and "+    return post(amount * 100)" in diff


def inputs_for_night_two() -> PlanInputs:
    after = BILLING.replace("return post(amount)", "return post(amount * 100)")
    row_id = doc_id("billing.py" + after)
    candidates = [{"doc_id": row_id, "relpath": "billing.py", "kind": "code", "lines": 6}]
    texts = {row_id: {"text": after, "tokens": count_tokens(after), "page_starts": None,
                      "page_token_starts": None}}  # fmt: skip
    later = NIGHT_ONE + timedelta(days=3)
    # web.py changed more recently than ledger.py: it comes after it, whatever the names say.
    files = (repo_file("ledger.py", LEDGER), repo_file("web.py", WEB, later))
    return PlanInputs(
        candidates, texts, frozenset(), 2, RepositoryContext(files, {row_id: BILLING})
    )


def test_night_two_shows_context_first_then_the_change_and_its_diff() -> None:
    plan = plan_review(inputs_for_night_two(), CODEBASE, MODELS)
    (item,) = plan.items
    views = plan.views[item.item_id]
    assert [(v.name, v.role) for v in views] == [
        ("ledger.py", "context"), ("web.py", "context"), ("billing.py", "review"),
    ]  # fmt: skip
    assert [s.relpath for s in item.slices] == ["billing.py"]  # only the change is asked
    user = build_messages(CODEBASE, views, CODEBASE.fields)[1]["content"]
    assert user.index('name="ledger.py"') < user.index('name="web.py"') < user.index("<changes>")
    assert "+    return post(amount * 100)" in user[user.index("<changes>") :]
    # The request's size (and route) counts all it shows, not only what it asks: the
    # estimate (markup at its bound) covers the rendered documents and changes block.
    shown = count_tokens(user[: user.rindex("\n\n<fields>")])
    assert plan.context_tokens[item.item_id] > 0
    assert shown <= item.input_tokens < 2 * shown
    assert "3 document(s)" in (item.route.reason if item.route else "")


def test_an_item_whose_diff_does_not_fit_is_left_as_planned() -> None:
    inputs = inputs_for_night_two()
    plan = plan_review(inputs, CODEBASE, MODELS)
    (item,) = plan.items
    tight = Budget(item.input_tokens - plan.context_tokens[item.item_id] + 5, 1000, 100, 10)
    bare = [v for v in plan.views[item.item_id] if v.role == "review"]
    bare = [DocumentView(v.doc_id, v.name, v.kind, v.text) for v in bare]
    original = item.__class__(item.item_id, item.group, item.slices, tight.input_tokens - 5,
                              item.route)  # fmt: skip
    assert inputs.context is not None
    result = add_context([original], {item.item_id: bare}, inputs.context, tight,
                         ProfileRouter(CODEBASE, MODELS))  # fmt: skip
    assert result.items == [original] and result.added_tokens == {}
    assert all(v.changes is None for v in result.views[item.item_id])


def test_an_answer_about_a_context_file_is_left_out_and_asks_nothing_of_it() -> None:
    ledger = DocumentView("ctx", "ledger.py", DocKind.CODE, LEDGER, role="context")
    billing = DocumentView("chg", "billing.py", DocKind.CODE, BILLING, changes="")
    answer = json.dumps({
        "extractions": [
            {"doc_id": "ctx", "field": "off_by_one", "quote": "return amount", "line": 2},
            {"doc_id": "chg", "field": "off_by_one", "quote": "return post(amount)", "line": 5},
        ],
        "absent": [{"field": "sql_injection"}],
    })  # fmt: skip
    indexes = {"ctx": GroundingIndex(LEDGER), "chg": GroundingIndex(BILLING)}
    check = check_answer(answer, "stop", [ledger, billing], ["off_by_one", "sql_injection"],
                         indexes)  # fmt: skip
    assert [(e.doc_id, e.line) for e in check.extractions] == [("chg", 5)]
    assert check.problems == ()
    assert {(o.doc_id, o.field, o.state) for o in check.outcomes} == {
        ("chg", "off_by_one", FieldState.ANSWERED), ("chg", "sql_injection", FieldState.ABSENT),
    }  # fmt: skip
