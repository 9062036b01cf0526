"""Fractional z-order keys.

A component's ``z`` is a string key; components draw in ``(z, id)`` order.  A
new key can always be made between two others without renumbering anything,
so two users reordering different components never conflict (the scheme of
Figma, tldraw and David Greenspan's "fractional-indexing").

A key is an *integer part* followed by an optional *fraction*, in base-62
digits ``0-9A-Za-z`` (which sort in ASCII order).  The integer part's first
character says how long it is: ``a``..``z`` are 2..27 characters (0 and up),
``A``..``Z`` are 27..2 characters (negative).  So appending on top
(``key_after``) increments an integer and keys grow logarithmically with the
number of appends; only inserting between adjacent keys grows the fraction.
A fraction never ends in ``0`` so each key has one spelling.
"""

from __future__ import annotations

__all__ = ["DIGITS", "FIRST_KEY", "is_valid_key", "key_after", "key_before", "key_between"]

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
FIRST_KEY = "a0"
MAX_KEY_LENGTH = 64
_BASE = len(DIGITS)
_VALUE = {c: i for i, c in enumerate(DIGITS)}
# The smallest integer part; nothing can be made below it, so it is not a valid key.
_SMALLEST = "A" + DIGITS[0] * 26


def _integer_length(head: str) -> int:
    if "a" <= head <= "z":
        return ord(head) - ord("a") + 2
    if "A" <= head <= "Z":
        return ord("Z") - ord(head) + 2
    raise ValueError(f"invalid z key head {head!r}")


def _split(key: str) -> tuple[str, str]:
    length = _integer_length(key[0])
    if length > len(key):
        raise ValueError(f"invalid z key {key!r}: integer part too short")
    return key[:length], key[length:]


def is_valid_key(key: str) -> bool:
    """True if ``key`` is a canonical key of at most MAX_KEY_LENGTH characters."""
    if not 0 < len(key) <= MAX_KEY_LENGTH or key == _SMALLEST:
        return False
    if any(c not in _VALUE for c in key):
        return False
    try:
        _integer, fraction = _split(key)
    except ValueError:
        return False
    return not fraction.endswith(DIGITS[0])


def _check(key: str) -> None:
    if not is_valid_key(key):
        raise ValueError(f"invalid z key {key!r}")


def key_between(a: str | None, b: str | None) -> str:
    """A key strictly between ``a`` and ``b`` (``None`` means the open end)."""
    if a is not None:
        _check(a)
    if b is not None:
        _check(b)
    if a is not None and b is not None and not a < b:
        raise ValueError(f"key_between needs a < b, got {a!r} and {b!r}")
    if a is None:
        if b is None:
            return FIRST_KEY
        int_b, frac_b = _split(b)
        if int_b == _SMALLEST:
            return int_b + _midpoint("", frac_b)
        if int_b < b:
            return int_b
        lower = _decrement(int_b)
        if lower is None:
            raise ValueError("no key below the smallest one")
        return lower
    int_a, frac_a = _split(a)
    if b is None:
        higher = _increment(int_a)
        return higher if higher is not None else int_a + _midpoint(frac_a, None)
    int_b, frac_b = _split(b)
    if int_a == int_b:
        return int_a + _midpoint(frac_a, frac_b)
    higher = _increment(int_a)
    if higher is None:
        raise ValueError("no key above the largest one")
    return higher if higher < b else int_a + _midpoint(frac_a, None)


def key_after(a: str | None) -> str:
    """A key after ``a``."""
    return key_between(a, None)


def key_before(b: str | None) -> str:
    """A key before ``b``."""
    return key_between(None, b)


def _midpoint(a: str, b: str | None) -> str:
    """A fraction strictly between fractions ``a`` and ``b`` (``None``: 1)."""
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
        return DIGITS[(digit_a + digit_b + 1) // 2]
    if b is not None and len(b) > 1:
        return b[:1]
    return DIGITS[digit_a] + _midpoint(a[1:], None)


def _increment(integer: str) -> str | None:
    head, digits = integer[0], list(integer[1:])
    for i in range(len(digits) - 1, -1, -1):
        value = _VALUE[digits[i]] + 1
        if value < _BASE:
            digits[i] = DIGITS[value]
            return head + "".join(digits)
        digits[i] = DIGITS[0]
    # Every digit carried: the integer part gets longer (or, below zero, shorter).
    if head == "Z":
        return "a" + DIGITS[0]
    if head == "z":
        return None
    new_head = chr(ord(head) + 1)
    if new_head > "a":
        digits.append(DIGITS[0])
    else:
        digits.pop()
    return new_head + "".join(digits)


def _decrement(integer: str) -> str | None:
    head, digits = integer[0], list(integer[1:])
    for i in range(len(digits) - 1, -1, -1):
        value = _VALUE[digits[i]] - 1
        if value >= 0:
            digits[i] = DIGITS[value]
            return head + "".join(digits)
        digits[i] = DIGITS[-1]
    if head == "a":
        return "Z" + DIGITS[-1]
    if head == "A":
        return None
    new_head = chr(ord(head) - 1)
    if new_head < "Z":
        digits.append(DIGITS[-1])
    else:
        digits.pop()
    return new_head + "".join(digits)
