"""Checks for numeric CLI options: a range, and no NaN or infinity (click's ranges let NaN in)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import typer


def within(low: float, high: float, *, above: bool = False) -> Callable[[Any], Any]:
    """A Typer callback refusing values outside [low, high] (or (low, high] with `above`)."""

    def check(value: Any) -> Any:
        if value is None:
            return value
        low_ok = value > low if above else value >= low
        if not (math.isfinite(value) and low_ok and value <= high):
            bound = "above" if above else "at least"
            raise typer.BadParameter(f"{value:g} is not {bound} {low:g} and at most {high:g}")
        return value

    return check


def positive_seconds(high: float = 3600) -> Callable[[Any], Any]:
    """A number of seconds above 0, at most `high`."""
    return within(0, high, above=True)
