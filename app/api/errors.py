"""Error bodies that are always small and always encodable, whatever the request carried.

FastAPI's 422 echoes the offending input: a lone surrogate (`"\\ud800"`) cannot be encoded as UTF-8,
so the 422 itself failed with a 500, and a 60 KB string came back as a 60 KB error. Here every
string taken from a request is cut to a short excerpt, and anything UTF-8 cannot carry is written
as an escape (`\\ud800`), so the client still sees what was wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

INPUT_EXCERPT_CHARS = 80  # of an offending value
LOC_PART_CHARS = 60  # of a field name taken from the body (an unknown key, say)
MESSAGE_CHARS = 500
MAX_ERRORS = 20  # field errors listed in one 422
MAX_CTX_ITEMS = 8
# Larger integers are described, not printed: a 4000-digit number is 4 KB, and past 4300 digits
# Python refuses to print one at all.
_LARGEST_INT = 2**63


def safe_text(text: str, limit: int) -> str:
    """At most `limit` characters (then "…"), with what UTF-8 cannot encode written as an escape."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return cut.encode("utf-8", "backslashreplace").decode("utf-8")


def excerpt(value: Any) -> Any:
    """A short, JSON-safe stand-in for a value taken from a request."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < _LARGEST_INT else f"<an integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return safe_text(value, INPUT_EXCERPT_CHARS)
    if isinstance(value, bytes | bytearray):
        return safe_text(bytes(value[: INPUT_EXCERPT_CHARS * 4]).decode("utf-8", "replace"), INPUT_EXCERPT_CHARS)
    if isinstance(value, Mapping):
        keys = ", ".join(safe_text(str(k), 20) for k in list(value)[:5])
        return f"<an object with {len(value)} field(s): {keys}{', …' if len(value) > 5 else ''}>"
    if isinstance(value, Sequence):
        return f"<an array of {len(value)} item(s)>"
    return f"<{type(value).__name__}>"


def validation_detail(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's field errors (type, loc, msg, input, ctx), each bounded and encodable."""
    detail = []
    for error in errors[:MAX_ERRORS]:
        item: dict[str, Any] = {
            "type": safe_text(str(error.get("type", "")), LOC_PART_CHARS),
            "loc": [p if isinstance(p, int) else safe_text(str(p), LOC_PART_CHARS) for p in error.get("loc", ())],
            "msg": safe_text(str(error.get("msg", "")), MESSAGE_CHARS),
        }
        if "input" in error:
            item["input"] = excerpt(error["input"])
        ctx = error.get("ctx")
        if isinstance(ctx, Mapping) and ctx:
            item["ctx"] = {
                safe_text(str(k), LOC_PART_CHARS): excerpt(v if isinstance(v, int | float | str) else str(v))
                for k, v in list(ctx.items())[:MAX_CTX_ITEMS]
            }
        detail.append(item)
    if len(errors) > MAX_ERRORS:
        detail.append({"type": "too_many_errors", "loc": [], "msg": f"and {len(errors) - MAX_ERRORS} more error(s)"})
    return detail
