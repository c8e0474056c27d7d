"""``GET /v1/areas``: every area code, its EIC, name, kinds and time zone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gridvault.api.schemas import AreaOut
from gridvault.entsoe.areas import all_areas
from gridvault.errors import InputError

router = APIRouter(prefix="/v1", tags=["areas"])
KINDS = ("bidding_zone", "control_area", "country", "market_balance_area", "other")


@router.get("/areas", summary="Areas: code, EIC, name, kind, time zone")
async def list_areas(
    kind: Annotated[
        str | None,
        Query(description="Only areas of this kind: " + ", ".join(KINDS) + "."),
    ] = None,
) -> list[AreaOut]:
    """Area codes as entsoe-py spells them; every endpoint also accepts the EIC."""
    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown area kind {kind!r}; use one of {', '.join(KINDS)}")
    return [
        AreaOut(code=a.code, eic=a.eic, name=a.name, kind=list(a.kinds), tz=a.tz)
        for a in all_areas()
        if kind is None or a.is_kind(kind)
    ]


__all__ = ["router"]
