"""API tokens: what a site's developer presents to create and manage threads."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.db.tables import api_tokens
from kibitz.security import hash_token, new_token
from kibitz.services import threads as thread_service
from kibitz.services.errors import Conflict, Invalid, NotFound


async def create(kb: Kibitz, name: str) -> str:
    """A new token, shown this once; the database keeps only its hash."""
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("invalid_name", "A token name has 1 to 100 characters.", "name")
    token = "kbz_" + new_token(32)

    def tx(conn: Connection) -> None:
        taken = conn.execute(sa.select(api_tokens.c.id).where(api_tokens.c.name == name))
        if taken.first() is not None:
            raise Conflict("token_exists", f"A token named {name!r} exists.", "name")
        conn.execute(
            sa.insert(api_tokens).values(
                name=name, token_hash=hash_token(token), created_at=thread_service.now()
            )
        )

    await kb.db.write(tx)
    return token


async def verify(kb: Kibitz, token: str | None) -> str | None:
    """The token's name if it is valid and not revoked."""
    if not token or not token.startswith("kbz_") or len(token) > 200:
        return None
    query = sa.select(api_tokens.c.name).where(
        api_tokens.c.token_hash == hash_token(token), api_tokens.c.revoked_at.is_(None)
    )
    name: str | None = await kb.db.read(lambda conn: conn.execute(query).scalar_one_or_none())
    return name


async def revoke(kb: Kibitz, name: str) -> None:

    def tx(conn: Connection) -> None:
        result = conn.execute(
            sa.update(api_tokens)
            .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=thread_service.now())
        )
        if result.rowcount == 0:
            raise NotFound("token_not_found", f"No active token named {name!r}.", "name")

    await kb.db.write(tx)


async def list_all(kb: Kibitz) -> list[Any]:
    query = sa.select(api_tokens.c.name, api_tokens.c.created_at, api_tokens.c.revoked_at).order_by(
        api_tokens.c.id
    )
    return await kb.db.read(lambda conn: list(conn.execute(query)))
