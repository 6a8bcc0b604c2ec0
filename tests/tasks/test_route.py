"""Routing rules: Flash by default, Pro by readable rules, escalation once."""

from __future__ import annotations

import pytest

from nightshift.models import DocKind
from nightshift.profiles import Profile, RoutingPolicy, load_profile
from tasks.plan import Slice, WorkItem
from tasks.route import ModelIds, escalate, route_item

MODELS = ModelIds()
LEGAL = load_profile("legal")
CODEBASE = load_profile("codebase")


def item(input_tokens: int, documents: int = 1) -> WorkItem:
    slices = tuple(Slice(f"d{n}", f"f{n}.pdf", DocKind.PDF, 10) for n in range(documents))
    return WorkItem("wi-test", "g", slices, input_tokens)


def with_routing(profile: Profile, **changes: object) -> Profile:
    return profile.model_copy(update={"routing": profile.routing.model_copy(update=changes)})


def test_high_fidelity_over_the_threshold_goes_to_pro_with_the_numbers():
    threshold = LEGAL.routing.pro_above_input_tokens
    route = route_item(item(threshold + 1), LEGAL, MODELS)
    assert route.family == "pro" and route.model == MODELS.pro
    assert f"{threshold:,}" in route.reason and f"{threshold + 1:,}" in route.reason
    assert route.thinking and route.reasoning_effort == "high"


def test_at_the_threshold_stays_on_flash():
    route = route_item(item(LEGAL.routing.pro_above_input_tokens), LEGAL, MODELS)
    assert route.family == "flash" and route.model == MODELS.flash
    assert route.reason.startswith("default:")


def test_standard_fidelity_stays_on_flash_however_long():
    route = route_item(item(900_000, documents=3), CODEBASE, MODELS)
    assert route.family == "flash"
    assert "900,000 input tokens" in route.reason and "standard fidelity" in route.reason


def test_many_files_go_to_pro_for_multi_file_analysis():
    many = CODEBASE.routing.pro_min_documents
    route = route_item(item(50_000, documents=many), CODEBASE, MODELS)
    assert route.family == "pro" and f"across {many} files" in route.reason
    assert route_item(item(50_000, documents=many - 1), CODEBASE, MODELS).family == "flash"


def test_zero_min_documents_never_routes_by_count():
    assert LEGAL.routing.pro_min_documents == 0
    assert route_item(item(1_000, documents=8), LEGAL, MODELS).family == "flash"


@pytest.mark.parametrize(
    ("thinking", "effort", "expected"),
    [(True, "max", (True, "max")), (True, "none", (False, None)), (False, "high", (False, None))],
)
def test_reasoning_effort_is_part_of_the_route(thinking, effort, expected):
    profile = LEGAL.model_copy(update={"thinking": thinking, "reasoning_effort": effort})
    route = route_item(item(1_000), profile, MODELS)
    assert (route.thinking, route.reasoning_effort) == expected


def test_the_ladder_climbs_flash_at_max_effort_then_pro_then_stops():
    flash = route_item(item(1_000), LEGAL, MODELS)
    harder = escalate(flash, LEGAL, MODELS, "ungrounded quotes for governing_law")
    assert harder is not None
    assert (harder.model, harder.thinking, harder.reasoning_effort) == (MODELS.flash, True, "max")
    assert harder.reason == (
        f"ladder flash:high -> flash:max after {MODELS.flash}: ungrounded quotes for governing_law"
    )
    pro = escalate(harder, LEGAL, MODELS, "again")
    assert pro is not None and (pro.model, pro.reasoning_effort) == (MODELS.pro, "high")
    assert escalate(pro, LEGAL, MODELS, "and again") is None


def test_the_ladder_never_steps_down_and_skips_pro_on_a_one_model_endpoint():
    routed_to_pro = route_item(item(10**6), LEGAL, MODELS)
    assert routed_to_pro.family == "pro"
    assert escalate(routed_to_pro, LEGAL, MODELS, "invalid JSON") is None  # not to flash:max
    one_model = ModelIds(flash="served", pro="served")
    flash = route_item(item(1_000), LEGAL, one_model)
    harder = escalate(flash, LEGAL, one_model, "invalid JSON")
    assert harder is not None and harder.reasoning_effort == "max"
    assert escalate(harder, LEGAL, one_model, "again") is None


def test_no_escalation_when_the_profile_has_no_ladder():
    quiet = with_routing(LEGAL, ladder=())
    flash = route_item(item(1_000), quiet, MODELS)
    assert escalate(flash, quiet, MODELS, "invalid JSON") is None


def test_a_ladder_must_climb():
    with pytest.raises(ValueError, match="must climb"):
        RoutingPolicy(ladder=("pro:high", "flash:max"))


def test_model_ids_are_configurable():
    models = ModelIds(flash="f-1", pro="p-1")
    assert route_item(item(1_000), LEGAL, models).model == "f-1"
    assert route_item(item(10**6), LEGAL, models).model == "p-1"
