"""Plain functions that do what a reader does, with keyword defaults."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

THREAD = "/2021/06/russia-strengthening-bases"


async def post_comment(
    client: AsyncClient,
    body: str = "A thoughtful comment.",
    *,
    thread: str = THREAD,
    expect: int | None = 201,
    **fields: Any,
) -> dict[str, Any]:
    payload = {"thread": thread, "body": body, "author_name": "Reader", **fields}
    payload = {k: v for k, v in payload.items() if v is not None}
    response = await client.post("/api/v1/comments", json=payload)
    if expect is not None:
        assert response.status_code == expect, response.text
    data: dict[str, Any] = response.json()
    return data


async def read_thread(client: AsyncClient, thread: str = THREAD, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/comments", params={"thread": thread, **params})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def vote(
    client: AsyncClient, comment_id: int, value: int, expect: int = 200
) -> dict[str, Any]:
    """Vote as the widget does: a reader new to the site has asked /me first, which names
    them (the voter cookie); a request that names no reader is refused."""
    if "kibitz_voter" not in client.cookies:
        named = await client.get("/api/v1/me", params={"thread": THREAD})
        assert named.status_code == 200, named.text
    response = await client.post(f"/api/v1/comments/{comment_id}/vote", json={"value": value})
    assert response.status_code == expect, response.text
    data: dict[str, Any] = response.json()
    return data


def flatten(comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in comments:
        out.append(c)
        out.extend(flatten(c["replies"]))
    return out
