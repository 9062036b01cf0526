"""``optiverse`` / ``python -m optiverse.ui``: open the editor."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from optiverse.ui.app import run

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
