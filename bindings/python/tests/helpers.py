"""Helpers shared by the tests (tests/ is on sys.path via pyproject)."""

from __future__ import annotations

import math
from typing import Any

import topgun_storage as tg

T0 = 1_700_000_000_000


def ts(millis: int = 1, counter: int = 0, node: str = "node-a") -> tg.Timestamp:
    return tg.Timestamp(millis, counter, node)


def lww(value: object = 1, millis: int = 1) -> tg.LwwRecord:
    return tg.LwwRecord(value, ts(millis))


def same(a: Any, b: Any) -> bool:
    """Equal with the same types, dict key order and float sign bits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def plain(value: Any) -> Any:
    """What a stored value reads back as: tuples become lists, bytearray bytes."""
    if isinstance(value, (list, tuple)):
        return [plain(x) for x in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, bytearray):
        return bytes(value)
    return value
