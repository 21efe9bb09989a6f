"""Canonical JSON: how configs and stored values are written.

One value has exactly one text (sorted keys, no spaces, no NaN), so two configs are
equal exactly when their texts are, and a value reads back as it was written. Anything
that is not JSON is refused up front with a `TypeError` naming where it sits, rather
than stored in a lossy form (``{1: "a"}`` would silently come back as ``{"1": "a"}``).
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["canonical_json", "check_json", "load_json"]

_encoder = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_decoder = json.JSONDecoder()


class _NotJSON(Exception):
    """Raised inside `_check` and annotated with the path on the way out, so the path
    string is only built when a value is actually refused."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []


def _check(value: Any) -> None:
    # Exact type checks first: they cover nearly every value and cost one comparison.
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return
    if kind is float:
        if not math.isfinite(value):
            raise _NotJSON(f"{value!r} is not a finite number")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _NotJSON(f"has a {type(key).__name__} key {key!r}")
            try:
                _check(item)
            except _NotJSON as error:
                error.path.append(f"[{key!r}]")
                raise
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            try:
                _check(item)
            except _NotJSON as error:
                error.path.append(f"[{index}]")
                raise
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJSON(f"{value!r} is not a finite number")
        return
    if isinstance(value, (str, int)):
        return
    raise _NotJSON(f"is a {type(value).__name__}")


def check_json(value: Any, what: str) -> None:
    """Raise `TypeError` unless ``value`` is JSON: None, bool, int, finite float, str,
    list/tuple of JSON, dict of str to JSON.

    :param what: names the value in the message (``"storage key 'hits'"``).
    """
    try:
        _check(value)
    except _NotJSON as error:
        where = "".join(reversed(error.path))
        raise TypeError(
            f"{what}: value{where} {error.problem}; JSON values are None, bool, int, "
            "finite float, str, and lists and dicts (with str keys) of them"
        ) from None


def canonical_json(value: Any, what: str = "value") -> str:
    """The canonical JSON text of ``value``: sorted keys, no whitespace, UTF-8 as is.

    :param what: names the value in the `TypeError` raised when it is not JSON.
    """
    check_json(value, what)
    return _encoder.encode(value)


def load_json(text: str) -> Any:
    """Decode JSON text written by `canonical_json`."""
    return _decoder.decode(text)
