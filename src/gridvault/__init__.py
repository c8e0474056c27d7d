"""gridvault: a self-hosted energy-market data platform."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridvault.client import Client

__version__ = "0.1.0"
__all__ = ["Client", "__version__"]


def __getattr__(name: str) -> Any:
    # `gridvault.Client` without importing HTTP and pandas for every `import gridvault`.
    if name == "Client":
        from gridvault.client import Client  # noqa: PLC0415

        return Client
    raise AttributeError(f"module 'gridvault' has no attribute {name!r}")
