"""Everything gridvault knows about the ENTSO-E Transparency Platform.

``gridvault.entsoe.parse(data: bytes) -> pyarrow.Table`` is public API: it reads any
ENTSO-E response (XML or ZIP) into one row per value, usable without the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridvault.entsoe.parser import parse as parse


def __getattr__(name: str) -> Any:
    # Lazy: importing gridvault.entsoe must not import lxml and the catalog eagerly.
    if name == "parse":
        from gridvault.entsoe.parser import parse  # noqa: PLC0415

        return parse
    raise AttributeError(name)


__all__ = ["parse"]
