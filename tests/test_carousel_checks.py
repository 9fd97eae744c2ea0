"""The shared validators: one-line errors naming the field as the config does."""

import dataclasses
import math

import pytest

from carousel_checks import check_finite, check_finite_fields


@pytest.mark.parametrize("value", [0, 1e-3, -2.5, 10**6])
def test_finite_numbers_pass(value):
    check_finite("optim.lr", value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, "1e-3", None])
def test_anything_else_is_one_line_naming_the_field(value):
    with pytest.raises(ValueError) as info:
        check_finite("optim.lr", value)
    assert str(info.value) == f"optim.lr must be a finite number, got {value!r}"


def test_every_float_field_of_a_spec_is_checked_by_its_config_name():
    @dataclasses.dataclass(frozen=True)
    class Spec:
        steps: int = 3
        name: str = "x"
        scale: float = 1.0
        bias: float = 0.0

    check_finite_fields(Spec(), "model")
    with pytest.raises(ValueError, match=r"^model\.bias must be a finite number, got nan$"):
        check_finite_fields(Spec(bias=math.nan), "model")
