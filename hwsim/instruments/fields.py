"""Strict reading of the tables of a chain or bench file: every key is taken with a check, and a key left
over (a typo) is an error that lists the known keys."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from hwsim.instruments.errors import ChainFileError

REQUIRED = object()


class Table:
    """A mapping from the file whose keys are taken one by one; :meth:`finish` refuses the ones left over."""

    def __init__(self, data: Any, where: str, path: Path) -> None:
        if not isinstance(data, dict):
            raise ChainFileError(f"{path}: '{where}' must be a mapping of keys to values, not {type(data).__name__}")
        self.data = dict(data)
        self.where = where
        self.path = path
        self.known: list[str] = []

    def error(self, key: str, text: str) -> ChainFileError:
        """The error for ``key`` of this table: ``<file>: <where>.<key> <text>``."""
        return ChainFileError(f"{self.path}: {self.where}.{key} {text}")

    def take(self, key: str, check: Callable[[Any, Table, str], Any], default: Any = REQUIRED) -> Any:
        """The value of ``key`` passed through ``check``; ``default`` when it is absent or null (required if none)."""
        self.known.append(key)
        if key not in self.data or self.data[key] is None and default is not REQUIRED:
            if default is REQUIRED:
                raise ChainFileError(f"{self.path}: '{self.where}' needs the key '{key}'")
            self.data.pop(key, None)
            return default
        return check(self.data.pop(key), self, key)

    def finish(self) -> None:
        """Refuse the keys nobody took (a typo), listing the known ones."""
        if self.data:
            raise ChainFileError(f"{self.path}: unknown key(s) {sorted(self.data)} in '{self.where}'; known keys: "
                                 f"{', '.join(self.known)}")


def as_text(value: Any, t: Table, key: str) -> str:
    """A string."""
    if not isinstance(value, str):
        raise t.error(key, f"must be a string, not {value!r}")
    return value


def as_int(low: int = 0) -> Callable[[Any, Table, str], int]:
    """A check for an integer >= ``low``."""
    def check(value: Any, t: Table, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise t.error(key, f"must be an integer >= {low}, not {value!r}")
        return int(value)
    return check


def as_number(low: float = 0.0) -> Callable[[Any, Table, str], float]:
    """A check for a finite number >= ``low``."""
    def check(value: Any, t: Table, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
            raise t.error(key, f"must be a finite number >= {low:g}, not {value!r}")
        return float(value)
    return check


def as_texts(value: Any, t: Table, key: str) -> tuple[str, ...]:
    """A list of strings (SCPI commands)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise t.error(key, f"must be a list of strings (SCPI commands), not {value!r}")
    return tuple(value)


def _two_numbers(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))


def as_pair(value: Any, t: Table, key: str) -> tuple[float, float]:
    """``[low, high]`` with finite ``low < high`` (a range)."""
    if not _two_numbers(value) or not value[0] < value[1]:
        raise t.error(key, f"must be [low, high] with finite low < high, not {value!r}")
    return float(value[0]), float(value[1])


def as_codes(value: Any, t: Table, key: str) -> tuple[float, float]:
    """Two different finite numbers: the codes a range's low and high ends map onto."""
    if not _two_numbers(value) or value[0] == value[1]:
        raise t.error(key, f"must be [code at range low, code at range high], two different numbers, not {value!r}")
    return float(value[0]), float(value[1])


def as_shape(value: Any, t: Table, key: str) -> tuple[int, ...]:
    """A non-empty list of positive integers."""
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise t.error(key, f"must be a list of positive integers such as [16], not {value!r}")
    return tuple(value)


def as_bits(value: Any, t: Table, key: str) -> int:
    """Converter bits, 1..32."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 32:
        raise t.error(key, f"must be 1..32 (or omitted for float32 on protocol v1), not {value!r}")
    return value


def one_of(*options: str) -> Callable[[Any, Table, str], str]:
    """A check for one of ``options``."""
    def check(value: Any, t: Table, key: str) -> str:
        if value not in options:
            raise t.error(key, f"must be one of {', '.join(options)}, not {value!r}")
        return value
    return check
