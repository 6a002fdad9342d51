"""create_app: the routes, the middleware and the lifecycle of one kibitz process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get
from litestar.config.cors import CORSConfig
from litestar.config.csrf import CSRFConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import Message, Scope

from kibitz import __version__
from kibitz.context import Kibitz
from kibitz.mail.worker import Worker
from kibitz.metrics import Metrics
from kibitz.services import offensive
from kibitz.settings import Settings, load_settings
from kibitz.web import (
    admin,
    api,
    boundaries,
    embed,
    errors,
    feeds,
    funding,
    live,
    moderation,
    ops,
    pages,
    rights,
    subscriptions,
)
from kibitz.web import passages as passage_api
from kibitz.web.fastpath import FastReads

HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)


async def security_headers(message: Message, scope: Scope) -> None:
    """nosniff and a referrer policy on every response; a strict CSP on every HTML page.

    A before-send hook, not a middleware: it also reaches the app's own 404s and 405s. It
    goes by the response's type only, never its ETag, length or body: the fast path
    (kibitz/web/fastpath.py) applies the app's hooks once per kind of answer.
    """
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", []))
    names = {name.lower() for name, _ in headers}
    headers.append((b"x-content-type-options", b"nosniff"))
    headers.append((b"referrer-policy", b"strict-origin-when-cross-origin"))
    content_type = dict(headers).get(b"content-type", b"")
    if content_type.startswith(b"text/html") and b"content-security-policy" not in names:
        headers.append((b"content-security-policy", CSP.encode()))
    message["headers"] = headers


# paths the CSRF check leaves out (tests/test_admin_routes.py walks every other form)
CSRF_EXEMPT = [r"^/api/", r"^/subscriptions/unsubscribe$"]


@get("/api/v1/openapi.json", include_in_schema=False, media_type="application/json")
async def openapi_json(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The OpenAPI document of this version of the API."""
    schema = request.app.openapi_schema.to_schema()
    return Response(msgspec.json.encode(schema), media_type="application/json")


@get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(settings: Settings | None = None, kb: Kibitz | None = None) -> Litestar:
    if kb is None:
        kb = Kibitz.create(settings or load_settings())
    settings = kb.settings
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await kb.start()  # the bus between processes and the live hub
        stop = asyncio.Event()
        task = None
        # load the offensive-language model before taking requests, not on the first comment
        await asyncio.get_running_loop().run_in_executor(None, offensive.score_now, "warm up")
        if settings.worker_in_process:
            worker = Worker(kb)
            kb.wake_worker = worker.wake.set
            task = asyncio.create_task(worker.run_forever(stop))
        # scheduled backups run where the worker runs (see kibitz/backup/schedule.py)
        backups = None
        if settings.backup_enabled and settings.worker_in_process:
            from kibitz.backup import schedule

            backups = asyncio.create_task(schedule.run_forever(settings, stop))
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            if backups is not None:
                await backups
            await kb.close()

    app = Litestar(
        route_handlers=[
            api.CommentsController,
            api.CountsController,
            api.ThreadsController,
            feeds.site_feed,
            feeds.thread_feed,
            subscriptions.subscribe,
            subscriptions.confirm_page,
            subscriptions.confirm,
            subscriptions.unsubscribe_page,
            subscriptions.unsubscribe,
            subscriptions.manage_page,
            subscriptions.manage,
            moderation.moderate_page,
            moderation.moderate,
            *funding.ROUTES,
            pages.home,
            pages.article_list,
            pages.discussion,
            pages.post_form,
            pages.article_page,
            healthz,
            embed.widget_file,
            openapi_json,
            create_static_files_router(path="/static", directories=[HERE / "static"]),
            # live updates and operations
            live.stream,
            ops.readyz,
            ops.metrics,
            # moderation: the dashboard (every route behind its guard), log-in, reader rights
            admin.router(settings),
            *admin.PUBLIC_ROUTES,
            *rights.ROUTES,
            passage_api.PassagesController,
        ],
        exception_handlers=errors.HANDLERS,  # type: ignore[arg-type]
        # before every route's own: ids a database can hold, JSON bodies of the declared types
        # (a layer below that sets its own before_request would replace strict_json)
        guards=[boundaries.ids_in_range],
        before_request=boundaries.strict_json,
        before_send=[security_headers],
        csrf_config=CSRFConfig(
            secret=settings.effective_secret,
            cookie_name="kibitz_csrf",
            cookie_secure=settings.cookie_secure,
            cookie_httponly=True,
            header_name="x-kibitz-csrf",
            # The patterns are searched anywhere in the path, so each is anchored: else a
            # dashboard path with "/api/" inside (a campaign called "api") would skip the
            # check. The JSON API is protected by its JSON-only, allowed-origin rule instead;
            # one-click unsubscribe (RFC 8058) comes from mail clients, authorised by its
            # token. Stripe's webhook opts out on its route (its signature authorises it).
            exclude=CSRF_EXEMPT,
        ),
        cors_config=CORSConfig(
            allow_origins=sorted(settings.origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Content-Type",
                "X-Kibitz-Edit-Token",
                "X-Kibitz-Reader",
                "If-None-Match",
                "Last-Event-ID",
            ],
            expose_headers=["ETag", "Retry-After"],
            allow_credentials=True,
            max_age=3600,
        ),
        openapi_config=OpenAPIConfig(
            title="kibitz",
            version=__version__,
            description="Reader discussion for independent news sites.",
            # the docs UI lives outside /api/v1, whose unknown paths must answer JSON 404s
            path="/api/docs",
            render_plugins=[ScalarRenderPlugin(path="/")],
        ),
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine),
        request_max_body_size=settings.max_request_bytes,
        lifespan=[lifespan],
        debug=False,
        logging_config=None,
    )
    app.state.kibitz = kb
    app.state.metrics = Metrics(kb)
    app.asgi_handler = app.state.metrics.wrap(app.asgi_handler)
    return app


def served(app: Litestar) -> Any:
    """The app as ``kibitz serve`` runs it: thread reads and counts answered in front of it
    (kibitz/web/fastpath.py), unless the fast_reads setting is off."""
    return FastReads(app) if app.state.kibitz.settings.fast_reads else app


def app_from_env() -> Any:
    """The ASGI app for ``uvicorn --factory kibitz.app:app_from_env``."""
    return served(create_app())
