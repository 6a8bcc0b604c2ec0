"""Profiles are data, validated when loaded: a bad one fails with a message that says why."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nightshift.errors import ConfigError
from nightshift.profiles import builtin_profiles, load_profile

CUAD_SAMPLE = {"parties", "agreement_date", "governing_law", "anti_assignment",
               "cap_on_liability", "license_grant", "audit_rights", "non_compete"}  # fmt: skip
MINIMAL = {
    "name": "tiny",
    "version": "1",
    "description": "A tiny profile.",
    "task": "extraction",
    "fidelity": "standard",
    "instructions": "Extract.",
    "fields": [{"name": "parties", "description": "Who signed."}],
}


def write(tmp_path: Path, data: object, name: str = "profile.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def test_builtin_profiles_load():
    assert {"legal", "codebase"} <= set(builtin_profiles())
    for name in builtin_profiles():
        profile = load_profile(name)
        assert profile.name == name and profile.version and profile.instructions.strip()


def test_legal_profile_has_cuad_categories():
    legal = load_profile("legal")
    names = {f.name for f in legal.fields}
    assert len(names) >= 20 and names >= CUAD_SAMPLE
    assert legal.fidelity == "high" and legal.task == "extraction"
    assert all(f.hints for f in legal.fields)


def test_codebase_profile_is_findings_with_cwe():
    codebase = load_profile("codebase")
    assert codebase.task == "findings"
    assert all(f.cwe and f.cwe.startswith("CWE-") and f.severity for f in codebase.fields)


def test_profile_loads_from_a_path(tmp_path):
    profile = load_profile(write(tmp_path, MINIMAL))
    assert profile.name == "tiny" and profile.max_tokens == 16_384
    assert profile.passes() == [profile.fields]
    assert load_profile(str(write(tmp_path, MINIMAL, "other.yml"))).name == "tiny"


def test_fields_per_pass_splits_fields_in_order():
    legal = load_profile("legal").model_copy(update={"fields_per_pass": 10})
    passes = legal.passes()
    assert [len(p) for p in passes] == [10, 10, len(legal.fields) - 20]
    assert sum(passes, ()) == legal.fields


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match="temperature") as error:
        load_profile(write(tmp_path, {**MINIMAL, "temperature": 0.2}))
    assert "profile.yaml is invalid" in str(error.value)


def test_unknown_key_in_a_field_is_named(tmp_path):
    fields = [{"name": "parties", "description": "Who.", "hint": ["typo"]}]
    with pytest.raises(ConfigError, match="hint"):
        load_profile(write(tmp_path, {**MINIMAL, "fields": fields}))


def test_duplicate_field_names_are_refused(tmp_path):
    fields = [{"name": "parties", "description": "Who."}, {"name": "parties", "description": "?"}]
    with pytest.raises(ConfigError, match=r"duplicate field names: \['parties'\]"):
        load_profile(write(tmp_path, {**MINIMAL, "fields": fields}))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"fields": []}, "at least one field"),
        ({"task": "summarise"}, "task"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"fields": [{"name": "Bad Name", "description": "x"}]}, "name"),
        ({"routing": {"ungrounded": "drop"}}, "ungrounded"),
    ],
)
def test_invalid_values_are_refused(tmp_path, change, words):
    with pytest.raises(ConfigError, match=words):
        load_profile(write(tmp_path, {**MINIMAL, **change}))


@pytest.mark.parametrize("text", ["name: [unclosed\n", "a: b: c\n", "\tname: tab\n"])
def test_bad_yaml_is_a_config_error(tmp_path, text):
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_profile(write(tmp_path, text))


@pytest.mark.parametrize("text", ["", "- a list\n", "just a string\n"])
def test_yaml_that_is_not_a_mapping_is_invalid(tmp_path, text):
    with pytest.raises(ConfigError, match="is invalid"):
        load_profile(write(tmp_path, text))


def test_unknown_name_lists_the_builtins():
    with pytest.raises(ConfigError, match=r"unknown profile 'nope'.*'legal'"):
        load_profile("nope")


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read profile"):
        load_profile(tmp_path / "missing.yaml")


def test_builtin_name_wins_over_a_folder_of_the_same_name(tmp_path, monkeypatch):
    (tmp_path / "legal").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_profile("legal").name == "legal"


def test_repeated_yaml_key_is_refused(tmp_path):
    text = yaml.safe_dump(MINIMAL) + "fields:\n- name: other\n  description: x\n"
    with pytest.raises(ConfigError, match="fields"):
        load_profile(write(tmp_path, text))
