"""Contract families from names: roles, numbers, and which members travel together."""

from __future__ import annotations

from tasks.families import FamilyMember, assign_families, role_of, with_family_context


def test_roles_and_numbers_from_file_names() -> None:
    assert role_of("msa.pdf") == ("master", None)
    assert role_of("msa-amendment-2.pdf") == ("amendment", 2)
    assert role_of("msa_addendum.pdf") == ("amendment", None)
    assert role_of("msa (exhibit b).pdf") == ("attachment", 2)
    assert role_of("msa-sow-1.md") == ("attachment", 1)
    assert role_of("amendment-no-3.pdf") == ("amendment", 3)  # a name that is only a suffix


def test_a_folder_of_one_contract_is_one_family_and_stems_split_a_shared_folder() -> None:
    families = assign_families([
        "harrowgate/master-services-agreement.pdf", "harrowgate/amendment-no-1.pdf",
        "2024/alpha.pdf", "2024/alpha-amendment-1.pdf", "2024/beta.pdf",
        "nda.txt", "nda-exhibit-a.txt", "other.md",
    ])  # fmt: skip
    assert families["harrowgate/amendment-no-1.pdf"].family_id == "harrowgate/"
    assert families["harrowgate/master-services-agreement.pdf"].family_id == "harrowgate/"
    assert families["2024/alpha-amendment-1.pdf"] == FamilyMember("2024/alpha", "amendment", 1)
    assert families["2024/beta.pdf"].family_id == "2024/beta"
    assert families["nda-exhibit-a.txt"] == FamilyMember("nda", "attachment", 1)
    assert families["other.md"] == FamilyMember("other", "master", None)


def test_a_new_amendment_brings_its_reviewed_family_along() -> None:
    everything = [
        {"doc_id": "m", "relpath": "acme/msa.pdf"},
        {"doc_id": "a", "relpath": "acme/msa-amendment-1.pdf"},
        {"doc_id": "x", "relpath": "unrelated.pdf"},
    ]
    chosen = with_family_context([everything[1]], everything)
    assert sorted(row["doc_id"] for row in chosen) == ["a", "m"]
    assert with_family_context([everything[2]], everything) == [everything[2]]
