"""The JSON form of ledger values and its RFC 8785 canonical bytes (R-LG-4, R-LG-2).

Everything the ledger hashes is first made "JSON-safe": str, int, bool, None,
lists and dicts with str keys. Decimals become strings exactly as held
(R-CR-3: "7.50" stays "7.50"), dates ISO 8601, datetimes ISO 8601 in UTC with
a "Z". Floats are refused: they never enter credit (R-CR-3) and their JSON
form is a trap for hashes. The canonical bytes come from maintained libraries,
never from a hand-rolled serialiser:

- `canonical_json`: the `rfc8785` library, the reference. `/verify` recomputes
  every chain with it.
- `canonical_json_fast`: orjson with sorted keys and 53-bit integers, for the
  ingest path (~0.6 µs per event against ~38 µs). On the values this service
  builds (str, int within ±(2**53 - 1), bool, None, lists, dicts with ASCII
  keys; no floats) its bytes are RFC 8785's:
  - both escape a string character by character and agree on every one of
    the 1,112,064 Unicode scalar values (tests/unit/ledger/test_canonical.py
    checks them all), so they agree on every string;
  - sorted by code point, ASCII keys are in RFC 8785's UTF-16 order (the two
    orders part only for keys beyond U+FFFF, which this service never makes);
  - integers print the same digits in that range, and OPT_STRICT_INTEGER
    refuses larger ones as rfc8785 does.
  A hypothesis test compares the two on arbitrary entry events, and every
  `/verify` re-checks the stored chain with the reference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
import rfc8785

JsonValue = None | bool | int | str | list["JsonValue"] | dict[str, "JsonValue"]


def to_json_value(value: Any) -> JsonValue:
    """`value` as plain JSON data, ready for `canonical_json` (see the module docstring)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, Enum):
        return to_json_value(value.value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} has no JSON form")
        return str(value)
    if isinstance(value, datetime):  # before date: a datetime is a date
        if value.tzinfo is None:
            raise ValueError("a naive datetime has no place in the ledger; give it a timezone")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        out: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys are strings, not {type(key).__name__}")
            out[key] = to_json_value(item)
        return out
    if isinstance(value, (list, tuple)):
        return [to_json_value(item) for item in value]
    if isinstance(value, float):
        raise TypeError("floats are kept out of the ledger (R-CR-3): use Decimal or str")
    raise TypeError(f"{type(value).__name__} has no JSON form in the ledger")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of JSON-safe `value`: UTF-8, keys sorted, no whitespace."""
    return rfc8785.dumps(value)


_FAST = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER


def canonical_json_fast(value: Any) -> bytes:
    """`canonical_json(value)` for a value built by this service (module docstring:
    ASCII keys, no floats): the same bytes, ~60 times faster."""
    return orjson.dumps(value, option=_FAST)


def sha256_tagged(data: bytes) -> str:
    """"sha256:" + 64 lower-case hex digits: the one hash notation of the ledger."""
    return "sha256:" + hashlib.sha256(data).hexdigest()
