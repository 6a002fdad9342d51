"""Server-rendered HTML: articles with their discussion, readable and usable without
JavaScript, built from the same services as the JSON API."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from kibitz.models import SORTS, NewComment
from kibitz.services import articles, funding, own, passages, policies, reading
from kibitz.services import comments as comment_service
from kibitz.services.errors import Invalid, NotFound, ServiceError
from kibitz.web import reader as rd

SORT_LABELS = {"newest": "Newest", "oldest": "Oldest", "most_voted": "Most Voted", "best": "Best"}
FORM_FIELDS = (
    "body", "author_name", "author_email", "author_url", "notify", "notify_replies", "passage_id",
)  # fmt: skip
NOTIFY_CHOICES = [
    ("none", "nothing"),
    ("thread", "new follow-up comments"),
    ("replies", "new replies to my comments"),
]
# the form's field that people never see (hidden from sight and screen readers); bots fill it
HONEYPOT = "homepage"
# "View all comments" shows the whole discussion on one page, up to this many top-level
# comments (with their replies); a longer one goes on in pages of as many
VIEW_ALL_MAX = 1000


def _fields(request: Request[Any, Any, Any]) -> list[tuple[str, str, str, bool]]:
    s = rd.kibitz(request).settings
    out = [
        ("author_name", "Name", "text", s.require_name),
        ("author_email", "E-mail", "email", s.require_email),
    ]
    if s.allow_website:
        out.append(("author_url", "Website", "url", False))
    return out


async def _discussion_context(
    request: Request[Any, Any, Any],
    key: str,
    sort: str,
    cursor: str | None,
    *,
    view: str | None = None,
    reply_to: int | None = None,
    form: dict[str, str] | None = None,
    error: ServiceError | None = None,
    notice: str | None = None,
) -> dict[str, Any]:
    kb = rd.kibitz(request)
    sort_ = reading.check_sort(sort)
    everything = view == "all"
    size = VIEW_ALL_MAX if everything else kb.settings.page_size
    page = await reading.load_page(kb, key, sort_, size, cursor)
    who, _ = rd.reader(request)
    # inline feedback: comments show the passage they are about; questions can be answered
    listed = await passages.get_list(kb, key)
    path = request.url.path if request.method == "GET" else _page_url(key)

    def link(at: str = "kb-count", **params: str) -> str:
        query = {"sort": sort_, **params}
        if path.startswith("/discussion"):
            query = {"thread": key, **query}
        return f"{path.split('?')[0]}?{urlencode(query)}#{at}"

    reply_query = urlencode({"thread": key}) + "&" if path.startswith("/discussion") else ""
    # "View all comments": the whole discussion from the top, at the last one seen so far;
    # past VIEW_ALL_MAX, the next comments (said so, never passed off as all of them)
    next_link = None
    if page.next_cursor and everything:
        next_link = link(cursor=page.next_cursor, view="all")
    elif page.next_cursor:
        next_link = link(f"kibitz-comment-{page.comments[-1].id}", view="all")
    return {
        "site_name": kb.settings.site_name,
        "support_url": kb.settings.support_link,
        "page": page,
        "sort": sort_,
        "sorts": [(s, SORT_LABELS[s], link(sort=s)) for s in SORTS],
        "next_link": next_link,
        "view_all": everything,
        "view_all_max": VIEW_ALL_MAX,
        "first_link": link() if cursor else None,
        "reply_to": reply_to,
        "reply_query": reply_query,
        "form": {name: (form or {}).get(name, "") for name in FORM_FIELDS},
        "fields": _fields(request),
        "notify_choices": NOTIFY_CHOICES,
        "error": error,
        "notice": notice,
        # the reader's own held comments, the form's token, and a ban they should be told of
        "own_pending": await own.pending(kb, page.thread.key, who.voter_id),
        "form_token": policies.form_token(kb),
        "ban": await own.ban(kb, who),
        "passages": {p.id: p for p in listed.passages},
        "questions": [p for p in listed.passages if p.kind == "question" and p.active],
    }


def _page_url(key: str) -> str:
    """Where a thread is shown: its article's path, or the plain discussion page."""
    if key.startswith("/") and not key.startswith("//"):
        return key
    return "/discussion?" + urlencode({"thread": key})


async def _page(
    request: Request[Any, Any, Any],
    key: str,
    sort: str,
    cursor: str | None,
    article: articles.Article | None = None,
    **extra: Any,
) -> Template:
    """The article with its discussion, or the discussion alone when no article is here."""
    context = await _discussion_context(request, key, sort, cursor, **extra)
    if article is None:
        try:
            article = await articles.get(rd.kibitz(request), key)
        except NotFound:
            return Template("thread.html", context=context)
    kb = rd.kibitz(request)
    bar = await funding.bar(kb) if kb.settings.funding_bar else None
    return Template("article.html", context={**context, "article": article, "funding_bar": bar})


_NOTICES = {
    "posted": "Comment posted.",
    "pending": "Thank you. Your comment is awaiting moderation.",
}


@get("/", include_in_schema=False)
async def home(
    request: Request[Any, Any, Any],
    sort: FromQuery[str] = "newest",
    cursor: FromQuery[str | None] = None,
    view: FromQuery[str | None] = None,
    reply: FromQuery[int | None] = None,
    posted: FromQuery[str | None] = None,
) -> Template:
    """The newest article with its discussion, or a page saying how to add one."""
    kb = rd.kibitz(request)
    newest = await articles.latest(kb, 1)
    if not newest:
        return Template("home.html", context={"site_name": kb.settings.site_name,
                                              "support_url": kb.settings.support_link,
                                              "articles": []})  # fmt: skip
    notice = _NOTICES.get(posted or "")
    return await _page(
        request, newest[0].path, sort, cursor, newest[0], view=view, reply_to=reply,
        notice=notice,
    )  # fmt: skip


@get("/articles", include_in_schema=False)
async def article_list(request: Request[Any, Any, Any]) -> Template:
    kb = rd.kibitz(request)
    context = {
        "site_name": kb.settings.site_name,
        "support_url": kb.settings.support_link,
        "articles": await articles.latest(kb, 50),
    }
    return Template("home.html", context=context)


@get("/discussion", include_in_schema=False)
async def discussion(
    request: Request[Any, Any, Any],
    thread: FromQuery[str],
    sort: FromQuery[str] = "newest",
    cursor: FromQuery[str | None] = None,
    view: FromQuery[str | None] = None,
    reply: FromQuery[int | None] = None,
    posted: FromQuery[str | None] = None,
) -> Template:
    notice = _NOTICES.get(posted or "")
    return await _page(request, thread, sort, cursor, view=view, reply_to=reply, notice=notice)


@get("/{path:path}", include_in_schema=False)
async def article_page(
    request: Request[Any, Any, Any],
    path: FromPath[str],
    sort: FromQuery[str] = "newest",
    cursor: FromQuery[str | None] = None,
    view: FromQuery[str | None] = None,
    reply: FromQuery[int | None] = None,
    posted: FromQuery[str | None] = None,
) -> Template:
    """An article at its clean URL, with its discussion."""
    article = await articles.get(rd.kibitz(request), path)  # 404 unless an article lives here
    notice = _NOTICES.get(posted or "")
    return await _page(
        request, path, sort, cursor, article, view=view, reply_to=reply, notice=notice
    )


def _notify(value: str) -> Literal["none", "thread", "replies"]:
    for known in ("none", "thread", "replies"):
        if value == known:
            return known
    raise Invalid("invalid_notify", "Notify of: nothing, new comments or replies.")


@post("/discussion/comments", include_in_schema=False, status_code=303)
async def post_form(
    request: Request[Any, Any, Any],
    data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[Any]:
    """The form that works without JavaScript: post, then go back to the comment."""
    kb = rd.kibitz(request)
    key = data.get("thread", "")
    parent = data.get("parent_id", "").strip()
    passage = data.get("passage_id", "").strip()
    try:
        who, voter_cookie = rd.reader(request, mint=True)
        await rd.limit(request, "comment", who)
        if parent and not parent.isdigit():
            raise Invalid("unknown_parent", "There is no such comment.", "parent_id")
        if passage and not (passage.isascii() and passage.isdigit()):
            raise Invalid("unknown_passage", "There is no such question.", "passage_id")
        posted = await comment_service.create(
            kb,
            NewComment(
                thread=key,
                body=data.get("body", ""),
                parent_id=int(parent) if parent else None,
                author_name=data.get("author_name"),
                author_email=data.get("author_email"),
                author_url=data.get("author_url"),
                notify=_notify(data.get("notify", "none")),
                notify_replies=bool(data.get("notify_replies")),
                honeypot=data.get(HONEYPOT),
                form_token=data.get("form_token") or None,
                passage_id=int(passage) if passage and not parent else None,
            ),
            who,
        )
    except ServiceError as exc:
        template = await _page(
            request, key or "/", "newest", None,
            reply_to=int(parent) if parent.isdigit() else None, form=data, error=exc,
        )  # fmt: skip
        template.status_code = exc.status if exc.status != 404 else 422
        return template
    state = "pending" if posted.status == "pending" else "posted"
    target = _page_url(key)
    joiner = "&" if "?" in target else "?"
    redirect = Redirect(
        f"{target}{joiner}posted={state}#kibitz-comment-{posted.id}", status_code=303
    )
    edit = rd.edit_cookie(kb, posted.id, posted.edit_token)
    return rd.with_cookies(redirect, voter_cookie, edit)
