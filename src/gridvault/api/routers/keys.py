"""``/v1/keys`` (admin): manage API keys while the server runs.

In embedded mode the DuckDB file belongs to the server process, so ``gridvault keys`` cannot
open it meanwhile; these endpoints do the same through the API. A created key is in the
response once and never again.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from gridvault.api.deps import State, StoreDep, in_thread
from gridvault.api.errors import NotFoundError
from gridvault.api.schemas import Detail, KeyCreate, KeyCreated, KeyOut
from gridvault.errors import InputError
from gridvault.logs import get_logger
from gridvault.store.api_keys import ApiKey, create_key, list_keys, revoke_key

router = APIRouter(prefix="/v1/keys", tags=["keys"])
log = get_logger("gridvault.api.keys")


def _out(key: ApiKey) -> KeyOut:
    return KeyOut(
        key_id=key.key_id,
        name=key.name,
        scope=key.scope,
        rate_limit=key.rate_limit,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


@router.get("", summary="Every API key (never the keys themselves)")
async def get_keys(store: StoreDep) -> list[KeyOut]:
    return [_out(key) for key in await in_thread(list_keys, store)]


@router.post(
    "",
    status_code=201,
    summary="Create an API key (the key is shown once)",
    responses={400: {"model": Detail}},
)
async def post_key(body: KeyCreate, store: StoreDep, response: Response) -> KeyCreated:
    record, key = await in_thread(
        create_key, store, body.name, body.scope, rate_limit=body.rate_limit
    )
    log.info("api key created", key_id=record.key_id, name=record.name, scope=record.scope)
    response.headers["Cache-Control"] = "no-store"
    return KeyCreated(**_out(record).model_dump(), key=key)


@router.delete(
    "/{key_id}",
    summary="Revoke an API key (at once, for good)",
    responses={400: {"model": Detail}},
)
async def delete_key(key_id: int, store: StoreDep, state: State) -> KeyOut:
    try:
        record = await in_thread(revoke_key, store, key_id)
    except InputError as exc:
        if str(exc).startswith("no API key"):
            raise NotFoundError(str(exc)) from None
        raise
    state.keys.forget()
    log.info("api key revoked", key_id=record.key_id, name=record.name)
    return _out(record)


__all__ = ["router"]
