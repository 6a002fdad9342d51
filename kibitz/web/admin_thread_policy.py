"""The dashboard's page of one thread's moderation policy: what it changes of the site's
settings (links, block lists, the offensive threshold, reports to hold, the fill time).

Moderators and admins alike, as the thread's pre-moderation mode on *Threads*: setting how
strictly a discussion is moderated is moderating it. Every change is in the audit log.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from kibitz.services import thread_policy
from kibitz.services.errors import ServiceError
from kibitz.web import reader as rd
from kibitz.web.admin_auth import context, me

PATH = "/threads/policy"


def _shown(value: Any) -> str:
    """A value as the form shows it (lists one item a line)."""
    if value is None:
        return ""
    return "\n".join(value) if isinstance(value, list) else str(value)


async def _view(
    request: Request[Any, Any, Any],
    key: str,
    values: dict[str, str] | None = None,
    status: int = 200,
    **extra: Any,
) -> Template:
    kb = rd.kibitz(request)
    policy, _ = await thread_policy.get(kb, key)
    own = {n: _shown(getattr(policy, n)) for n in thread_policy.POLICIES}
    site = {n: _shown(getattr(kb.settings, s)) for n, (s, _) in thread_policy.POLICIES.items()}
    return Template(
        "admin/thread_policy.html",
        status_code=status,
        context=context(
            request, section="threads", key=key, values=values if values is not None else own,
            site=site, policies=thread_policy.POLICIES, lists=thread_policy.LISTS, **extra,
        ),
    )  # fmt: skip


@get(PATH, include_in_schema=False)
async def policy_page(
    request: Request[Any, Any, Any], thread: FromQuery[str], notice: FromQuery[str | None] = None
) -> Template:
    return await _view(request, thread, notice=notice)


@post(PATH, include_in_schema=False, status_code=303)
async def policy_save(request: Request[Any, Any, Any]) -> Response[Any]:
    """Every field of the form: a value sets it, an empty field goes back to the site's."""
    kb = rd.kibitz(request)
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    key = data.get("thread", "")
    typed = {n: data[n] for n in thread_policy.POLICIES if n in data}
    values = {n: v for n, v in typed.items() if v.strip()}
    clear = [n for n, v in typed.items() if not v.strip()]
    try:
        await thread_policy.update(kb, me(request).actor, key, values=values, clear=clear)
    except ServiceError as exc:
        if exc.code == "thread_not_found":
            raise
        return await _view(request, key, typed, exc.status, error=exc.message, field=exc.field)
    query = urlencode({"thread": key, "notice": f"Saved the policy of {key}."})
    return Redirect(f"/admin{PATH}?{query}", status_code=303)


ROUTES = [policy_page, policy_save]
