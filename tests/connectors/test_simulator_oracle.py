"""The oracle: labelled spans as answers, only what was asked and shown, perturbed by seed."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from connectors.simulator import SimulatorConfig, running_simulator
from connectors.simulator_oracle import (
    NO_PERTURBATION,
    Oracle,
    Perturbation,
    field_name,
    load_labels,
)
from nightshift.models import DocKind
from nightshift.profiles import load_profile
from tasks.ground import GroundingIndex
from tasks.prompt import DocumentView, build_messages
from tasks.validate import check_answer

LAW = "This Agreement shall be governed by the laws of the State of New York."
TERM = (
    "The initial term of this Agreement is three (3) years from the Effective Date and it "
    "renews automatically for successive one (1) year periods unless either party objects."
)
PAGES = [f"SUPPLY AGREEMENT\n{TERM}", f"12. Miscellaneous.\n{LAW}\nSigned."]
TEXT = "\f".join(PAGES)
STARTS = (0, len(PAGES[0]) + 1)
CODE = "def a():\n    try:\n        run()\n    except Exception: pass\n    return 1\n"

CUAD_RECORD = {
    "filename": "supply.pdf",
    "labels": {
        "Governing Law": {"context_spans": [LAW], "answer": "New York"},
        "Renewal Term": {"context_spans": [TERM], "answer": "1 year"},
        "Expiration Date": {"context_spans": [], "answer": ""},
        "Parties": {"context_spans": ["SUPPLY <omitted> AGREEMENT"], "answer": ""},
    },
}
ISSUES = {"issues": [{"file": "app/a.py", "line": 4, "kind": "swallowed exception",
                      "cwe": "CWE-390", "severity": "medium",
                      "line_text": "except Exception: pass"}]}  # fmt: skip


def labels_file(tmp_path: Path) -> Path:
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps(CUAD_RECORD) + "\n", encoding="utf-8")
    return path


def contract_view(**window) -> DocumentView:
    return DocumentView("d1", "deals/supply.pdf", DocKind.PDF, TEXT, STARTS, **window)


def legal_request(views, fields=("governing_law", "renewal_term", "expiration_date")):
    profile = load_profile("legal")
    specs = [spec for spec in profile.fields if spec.name in fields]
    return build_messages(profile, views, specs), list(fields)


def test_cuad_categories_become_profile_field_names():
    assert field_name("Cap On Liability") == "cap_on_liability"
    assert field_name("Anti-Assignment") == "anti_assignment"
    assert field_name("Notice Period To Terminate Renewal") == "notice_period_to_terminate_renewal"
    assert field_name("No-Solicit Of Employees") == "non_solicitation"


def test_labels_load_cuad_spans_split_at_omitted_and_findings(tmp_path):
    labels = load_labels(labels_file(tmp_path))
    fields = labels.documents["supply.pdf"]
    assert [s.text for s in fields["parties"]] == ["SUPPLY", "AGREEMENT"]
    assert "expiration_date" not in fields
    issues = tmp_path / "issues.json"
    issues.write_text(json.dumps(ISSUES), encoding="utf-8")
    assert load_labels(issues).findings_for("app/a.py")[0].line == 4
    assert load_labels(issues).findings_for("other/a.py") == ()


def test_unperturbed_answers_are_the_labelled_spans_of_the_fields_asked(tmp_path):
    oracle = Oracle.from_path(labels_file(tmp_path), NO_PERTURBATION)
    messages, asked = legal_request([contract_view()])
    answer = json.loads(oracle.answer(messages, json_mode=True).content)["extractions"]
    assert sorted((e["field"], e["quote"], e["value"]) for e in answer) == [
        ("governing_law", LAW, "New York"), ("renewal_term", TERM, "1 year")]  # fmt: skip
    # parties was labelled but not asked; expiration_date was asked but has no label.
    checked = check_answer(json.dumps({"extractions": answer}), "stop", [contract_view()], asked,
                           {"d1": GroundingIndex(TEXT, STARTS)})  # fmt: skip
    assert sorted((e.field, e.grounded, e.page) for e in checked.extractions) == [
        ("governing_law", True, 2), ("renewal_term", True, 1)]  # fmt: skip


def test_only_spans_inside_the_window_shown_are_answered(tmp_path):
    oracle = Oracle.from_path(labels_file(tmp_path), NO_PERTURBATION)
    second = contract_view(char_start=STARTS[1], first_unit=1, window="2/2")
    messages, _ = legal_request([second])
    answer = json.loads(oracle.answer(messages, json_mode=True).content)["extractions"]
    assert [e["field"] for e in answer] == ["governing_law"]


def test_unlabelled_documents_get_no_answers(tmp_path):
    oracle = Oracle.from_path(labels_file(tmp_path))
    view = DocumentView("d2", "other.pdf", DocKind.PDF, TEXT, STARTS)
    messages, _ = legal_request([view])
    assert json.loads(oracle.answer(messages, json_mode=True).content) == {"extractions": []}


def test_perturbations_are_seeded_and_each_habit_appears(tmp_path):
    labels = load_labels(labels_file(tmp_path))
    messages, _ = legal_request([contract_view()])

    def quotes(perturbation: Perturbation) -> list[str]:
        content = Oracle(labels, perturbation).answer(messages, json_mode=True).content
        return [e["quote"] for e in json.loads(content)["extractions"]]

    assert quotes(Perturbation(seed=3)) == quotes(Perturbation(seed=3))
    always = Perturbation(1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    # Only quotes of 16+ words are elided: the term clause, not the governing-law sentence.
    assert sorted(len(q.split()) for q in quotes(always)) == [13, 14]
    assert sum(any(m in q for m in ("...", "…", "[...]")) for q in quotes(always)) == 1
    assert all(not q.endswith(".") for q in quotes(Perturbation(0, 0, 0, 1.0, 0, 0)))
    assert all("\u201c" not in q for q in quotes(Perturbation(0, 0, 1.0, 0, 0, 0)))
    paraphrased = quotes(Perturbation(0, 0, 0, 0, 0, 1.0))
    assert LAW not in paraphrased and TERM not in paraphrased


def test_perturbed_answers_still_ground_except_paraphrases(tmp_path):
    labels = load_labels(labels_file(tmp_path))
    messages, asked = legal_request([contract_view()])
    index = {"d1": GroundingIndex(TEXT, STARTS)}
    for seed in range(20):
        perturbation = Perturbation(elide=0.5, reflow=0.5, quotes=0.5, drop_period=0.5,
                                    paraphrase=0.0, seed=seed)  # fmt: skip
        content = Oracle(labels, perturbation).answer(messages, json_mode=True).content
        checked = check_answer(content, "stop", [contract_view()], asked, index)
        assert all(e.grounded for e in checked.extractions), seed
    content = Oracle(labels, Perturbation(0, 0, 0, 0, 0, 1.0)).answer(messages, json_mode=True)
    checked = check_answer(content.content, "stop", [contract_view()], asked, index)
    assert not any(e.grounded for e in checked.extractions)


def test_code_findings_answer_the_field_with_their_cwe_and_shift_lines_by_seed(tmp_path):
    issues = tmp_path / "issues.json"
    issues.write_text(json.dumps(ISSUES), encoding="utf-8")
    profile = load_profile("codebase")
    view = DocumentView("c1", "app/a.py", DocKind.CODE, CODE)
    messages = build_messages(profile, [view], profile.fields)
    exact = Oracle.from_path(issues, NO_PERTURBATION).answer(messages, json_mode=True)
    [finding] = json.loads(exact.content)["extractions"]
    assert (finding["field"], finding["line"], finding["quote"]) == (
        "swallowed_exception", 4, "except Exception: pass")  # fmt: skip
    shifted = Oracle.from_path(issues, Perturbation(0, 0, 0, 0, 1.0, 0)).answer(
        messages, json_mode=True
    )
    line = json.loads(shifted.content)["extractions"][0]["line"]
    assert line != 4 and 1 <= abs(line - 4) <= 3


def test_the_simulator_answers_from_the_oracle_over_http(tmp_path):
    oracle = Oracle.from_path(labels_file(tmp_path), NO_PERTURBATION)
    messages, _ = legal_request([contract_view()])
    with running_simulator(SimulatorConfig(oracle=oracle)) as sim:
        response = httpx.post(
            f"{sim.base_url}/chat/completions",
            json={"model": "deepseek-v4-flash", "messages": list(messages),
                  "response_format": {"type": "json_object"}},
            headers={"Authorization": "Bearer sk-test"},
            timeout=30,
        )  # fmt: skip
    content = json.loads(response.json()["choices"][0]["message"]["content"])
    assert {e["quote"] for e in content["extractions"]} == {LAW, TERM}
