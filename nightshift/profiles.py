"""Review profiles: what to extract, how to ask for it, and how to route it.

Profiles are data (YAML) shipped in the package under ``nightshift/data/profiles/`` and
overridable by a file path. They are validated when loaded, so a bad profile fails before a
single document is read.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nightshift.errors import ConfigError

BUILTIN_DIR = files("nightshift").joinpath("data", "profiles")

# What a field's answer is; values land normalised to it (``tasks/typed_values.py``).
FieldType = Literal["date", "duration", "money", "party_list", "yes_no", "jurisdiction", "text"]


class FieldSpec(BaseModel):
    """One thing to extract: a clause category (legal) or a finding kind (codebase)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    hints: tuple[str, ...] = ()
    severity: Literal["critical", "high", "medium", "low"] | None = None
    cwe: str | None = None
    # What the answer is, so it lands typed (``tasks/typed_values.py``): "notice period under
    # 60 days" becomes a WHERE clause on ``value_days``.
    type: FieldType = "text"


# A rung of the reasoning ladder: a model family and a reasoning effort, weakest first.
LadderStep = Literal["flash:high", "flash:max", "pro:high", "pro:max"]
LADDER_ORDER: tuple[LadderStep, ...] = ("flash:high", "flash:max", "pro:high", "pro:max")
# What an answer can fail that a program can check; each may send it up the ladder.
Signal = Literal["invalid_json", "truncated", "ungrounded", "missing"]


class RoutingPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    pro_above_input_tokens: int = 200_000
    pro_min_documents: int = 0  # 0: never route to Pro for the number of documents alone
    # Where an answer that fails one of ``escalate_on`` is asked again: the first rung stronger
    # than the route it was asked on (never weaker: a document routed to Pro stays on Pro).
    # Empty: never escalate.
    ladder: tuple[LadderStep, ...] = ("flash:max", "pro:high")
    escalate_on: tuple[Signal, ...] = ("invalid_json", "truncated", "ungrounded", "missing")
    ungrounded: Literal["escalate", "keep_out"] = "escalate"

    @field_validator("ladder")
    @classmethod
    def _ladder_climbs(cls, ladder: tuple[LadderStep, ...]) -> tuple[LadderStep, ...]:
        ranks = [LADDER_ORDER.index(step) for step in ladder]
        if ranks != sorted(set(ranks)):
            raise ValueError(f"ladder rungs must climb, weakest first: {list(ladder)}")
        return ladder


class Profile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str
    description: str
    task: Literal["extraction", "findings"]
    fidelity: Literal["standard", "high"]
    thinking: bool = True
    reasoning_effort: Literal["none", "high", "max"] = "high"
    max_tokens: int = Field(16_384, gt=0, le=393_216)
    output_tokens_per_document: int = Field(2_000, gt=0)
    max_documents_per_request: int = Field(8, gt=0)
    fields_per_pass: int = Field(0, ge=0)  # 0: every field in one pass
    # Which documents may share a request. "related" (the default): only a family (a contract
    # with its amendments and exhibits; the parts of one repository) shares a request.
    # "pack_small": unrelated small documents of the same route share requests too. The fixed
    # prompt is a cached prefix, so packing saves little and costs output room, blast radius
    # and attention; see the README, "Routing and packing".
    packing: Literal["related", "pack_small"] = "related"
    routing: RoutingPolicy = RoutingPolicy()
    instructions: str
    fields: tuple[FieldSpec, ...]

    @field_validator("fields")
    @classmethod
    def _unique_fields(cls, fields: tuple[FieldSpec, ...]) -> tuple[FieldSpec, ...]:
        names = [f.name for f in fields]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate field names: {duplicates}")
        if not fields:
            raise ValueError("a profile needs at least one field")
        return fields

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def passes(self) -> list[tuple[FieldSpec, ...]]:
        """The field subsets asked in separate requests over the same documents."""
        size = self.fields_per_pass or len(self.fields)
        return [self.fields[i : i + size] for i in range(0, len(self.fields), size)]


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a repeated key instead of keeping the last one silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def builtin_profiles() -> list[str]:
    return sorted(
        entry.name[:-5] for entry in BUILTIN_DIR.iterdir() if entry.name.endswith(".yaml")
    )


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name (``legal``, ``codebase``) or a profile file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        try:
            text = candidate.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read profile {candidate}: {exc.strerror}") from exc
        where = str(candidate)
    else:
        entry = BUILTIN_DIR.joinpath(f"{name_or_path}.yaml")
        if not entry.is_file():
            raise ConfigError(
                f"unknown profile {name_or_path!r}; built-in profiles: {builtin_profiles()}, "
                "or give a path to a .yaml file"
            )
        text = entry.read_text(encoding="utf-8")
        where = f"built-in profile {name_or_path}"
    try:
        return Profile.model_validate(yaml.load(text, Loader=_UniqueKeyLoader))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(f"{where} is invalid:\n{exc}") from exc
