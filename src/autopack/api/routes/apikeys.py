"""API keys (admins): list them (never their hashes) and revoke one. Creating a key stays
a local act (`autopack apikey create --user NAME`), so a leaked key cannot mint others."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam

from autopack.api.deps import AuthDep, SessionDep
from autopack.services import apikeys

router = APIRouter(tags=["apikeys"])
KeyId = Annotated[int, PathParam(ge=1, le=2**63 - 1, description="The key's id (GET /apikeys)")]


@router.get("/apikeys", summary="List API keys")
def list_api_keys(session: SessionDep) -> dict[str, Any]:
    """Stored API keys, oldest first: id, name, the user it acts as, prefix, use and
    whether revoked (admins only). Keys from AUTOPACK_API_KEYS are not stored and not
    listed."""
    rows = apikeys.list_api_keys(session)
    return {"apikeys": [apikeys.key_view(row, owner) for row, owner in rows]}


@router.delete(
    "/apikeys/{key_id}",
    summary="Revoke an API key",
    responses={404: {"description": "Unknown key"}},
)
def revoke_api_key(key_id: KeyId, session: SessionDep, principal: AuthDep) -> dict[str, Any]:
    """Revoke a stored API key (admins only): it is refused from the next request on,
    including when it is the key of this request. Revoking a revoked key changes nothing.
    The response is the key's view and who revoked it (also in the decision log)."""
    row = apikeys.revoke_api_key(session, str(key_id), actor=principal.identity)
    return {**apikeys.key_view(row), "revoked_by": principal.identity}
