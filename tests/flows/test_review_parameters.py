"""The flow's parameters are ReviewOptions' fields: same names, order, types and defaults."""

from __future__ import annotations

import inspect
import typing

from flows.review import review_corpus
from nightshift.options import ReviewOptions


def test_flow_parameters_are_the_review_options() -> None:
    signature = inspect.signature(review_corpus.fn)
    hints = typing.get_type_hints(review_corpus.fn)
    fields = ReviewOptions.model_fields
    assert list(signature.parameters) == list(fields)
    for name, parameter in signature.parameters.items():
        field = fields[name]
        default = field.get_default(call_default_factory=True)
        assert parameter.default == (
            inspect.Parameter.empty if field.is_required() else default
        ) or (name == "simulator" and parameter.default is None and default == {}), name
        expected = field.annotation
        if name == "simulator":
            expected = expected | None
        assert hints[name] == expected, name
