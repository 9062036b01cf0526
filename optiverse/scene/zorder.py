"""Fractional z-order keys.

A component's ``z`` is a string key; components draw in ``(z, id)`` order.  A
new key can always be made between two others without renumbering anything,
so two users reordering different components never conflict (the scheme is
the one Figma and tldraw use).  Keys are base-62 fractions ``0.d1d2d3...``
written without the leading ``0.``; a key never ends in ``0`` so each
fraction has exactly one spelling.
"""

from __future__ import annotations

__all__ = ["DIGITS", "is_valid_key", "key_after", "key_before", "key_between"]

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE = len(DIGITS)
_VALUE = {c: i for i, c in enumerate(DIGITS)}
MAX_KEY_LENGTH = 64


def is_valid_key(key: str) -> bool:
    """True if ``key`` is a canonical fractional key."""
    return (
        0 < len(key) <= MAX_KEY_LENGTH
        and all(c in _VALUE for c in key)
        and not key.endswith(DIGITS[0])
    )


def key_between(a: str | None, b: str | None) -> str:
    """A key strictly between ``a`` and ``b`` (``None`` means the open end)."""
    if a is not None and b is not None and not a < b:
        raise ValueError(f"key_between needs a < b, got {a!r} and {b!r}")
    return _midpoint(a or "", b)


def key_after(a: str | None) -> str:
    """A key after ``a``; short, so repeated appends stay short for a while."""
    return key_between(a, None)


def key_before(b: str | None) -> str:
    """A key before ``b``."""
    return key_between(None, b)


def _midpoint(a: str, b: str | None) -> str:
    # Walk the common prefix, then pick a digit between the first differing
    # digits; recurse only when they are adjacent.
    if b is not None:
        n = 0
        while n < len(b) and (a[n] if n < len(a) else DIGITS[0]) == b[n]:
            n += 1
        if n > 0:
            return b[:n] + _midpoint(a[n:], b[n:])
    digit_a = _VALUE[a[0]] if a else 0
    digit_b = _VALUE[b[0]] if b else _BASE
    if digit_b - digit_a > 1:
        return DIGITS[(digit_a + digit_b) // 2]
    if b is not None and len(b) > 1:
        return b[:1]
    return DIGITS[digit_a] + _midpoint(a[1:], None)
