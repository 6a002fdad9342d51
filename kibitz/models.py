"""The shapes kibitz exchanges: what the API accepts and returns, shared by every caller."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

Sort = Literal["newest", "oldest", "most_voted", "best"]
SORTS: tuple[Sort, ...] = ("newest", "oldest", "most_voted", "best")
PublicStatus = Literal["approved", "pending", "deleted"]
# a row id as a request may name it: what a BIGINT column holds (larger ones cannot exist)
Id = Annotated[int, Meta(ge=1, le=2**63 - 1)]
# a character offset in an article's text: what an INTEGER column holds
Offset = Annotated[int, Meta(ge=0, le=2**31 - 1)]


class Reader(Struct, frozen=True):
    """Who is acting, as the server knows them; never sent to anyone."""

    voter_id: str | None = None
    ip_hash: str | None = None
    # for moderation checks (plugins) in this request only; never stored
    ip: str | None = None
    user_agent: str | None = None


class Author(Struct, frozen=True):
    name: str | None
    url: str | None


class Votes(Struct):
    up: int
    down: int
    score: int


class Comment(Struct):
    """A comment as anyone may see it: never an e-mail address, never an IP."""

    id: int
    parent_id: int | None
    author: Author
    body_html: str
    created_at: datetime
    edited_at: datetime | None
    status: PublicStatus
    votes: Votes
    replies: list[Comment] = msgspec.field(default_factory=list)
    # pinned by a moderator: shown first in the thread
    pinned: bool = False
    # picked out by a moderator as worth reading
    featured: bool = False
    # inline feedback: the passage of the article this comment is about (GET /passages)
    passage_id: int | None = None
    # a moderator closed this top-level comment's conversation: no new replies anywhere in it
    replies_closed: bool = False


class PostedComment(Comment, kw_only=True):
    """The answer to the comment's author: the comment and the secret that lets them edit it."""

    edit_token: str
    edit_until: datetime


class Preview(Struct):
    body_html: str


class ThreadInfo(Struct):
    key: str
    title: str
    url: str
    comment_count: int
    closed: bool
    # the thread's newest event: where its event stream continues from (GET /api/v1/stream)
    last_event_id: int = 0


class ThreadPage(Struct):
    thread: ThreadInfo
    comments: list[Comment]
    next_cursor: str | None


class VoteResult(Struct):
    up: int
    down: int
    score: int
    my_vote: int


class Counts(Struct):
    counts: dict[str, int]


class NewComment(Struct, forbid_unknown_fields=False):
    thread: str
    body: str
    parent_id: Id | None = None
    author_name: str | None = None
    author_email: str | None = None
    author_url: str | None = None
    thread_title: str | None = None
    thread_url: str | None = None
    # "Notify of": every new comment on the thread, or replies to my comments (needs e-mail)
    notify: Literal["none", "thread", "replies"] = "none"
    # and replies to this comment in particular
    notify_replies: bool = False
    # a field people never see and bots fill in: anything here marks the comment as spam
    honeypot: str | None = None
    # from GET /api/v1/me (or the page's form): when the form was shown, for the fill time
    form_token: str | None = None
    # inline feedback: answer a passage (a publisher's question, or a passage others chose) ...
    passage_id: Id | None = None
    # ... or comment on a passage the reader selected
    anchor: AnchorIn | None = None


class NewSubscription(Struct):
    email: str
    thread: str
    kind: Literal["thread", "replies"] = "thread"
    # the page it is on: following a page nobody commented on yet opens its thread, as a
    # first comment would (same origin and path rules)
    thread_url: str | None = None
    thread_title: str | None = None


class CommentEdit(Struct):
    body: str


class VoteIn(Struct):
    value: Annotated[int, Meta(ge=-1, le=1)]


class CountsIn(Struct):
    threads: list[str]


class NewThread(Struct):
    key: str
    title: str = ""
    url: str = ""
    closed: bool = False


class ThreadUpdate(Struct):
    title: str | None = None
    url: str | None = None
    closed: bool | None = None


class ErrorDetail(Struct, omit_defaults=True):
    code: str
    message: str
    field: str | None = None


class ErrorBody(Struct):
    error: ErrorDetail


class ReportIn(Struct):
    reason: Literal["spam", "abuse", "off_topic", "other"]
    note: str = ""


class ReportResult(Struct):
    status: Literal["reported", "already_reported"]


class RightsRequest(Struct):
    email: str


class Ban(Struct):
    """Why the reader cannot post (for the widget to say so before they write)."""

    code: str
    message: str
    until: datetime | None


class GuestForm(Struct, frozen=True):
    """What the site asks of a guest who comments (settings require_name, require_email,
    allow_website), for the widget to build its form the way the server will judge it."""

    require_name: bool
    require_email: bool
    allow_website: bool


class Me(Struct):
    """The reader's own state in a thread: never cached, never shown to anyone else."""

    votes: dict[str, int]
    # their comments that wait for a moderator, shown only to them ("awaiting moderation")
    pending: list[Comment]
    # send back as NewComment.form_token (the minimum time to fill the form)
    form_token: str
    # the signed voter id: send it as X-Kibitz-Reader where the browser keeps no cookies
    reader: str
    guest: GuestForm
    ban: Ban | None = None


# -- inline feedback


class AnchorIn(Struct):
    """A passage as the widget selected it: W3C TextQuoteSelector and TextPositionSelector
    over the article's normalised text (docs/inline-feedback.md), and that text's hash."""

    exact: str
    start: Offset
    end: Offset
    text_hash: str
    prefix: str = ""
    suffix: str = ""


class SelectorOut(Struct):
    exact: str
    prefix: str
    suffix: str
    start: int
    end: int


class FoundOut(Struct):
    """Where the passage is in the article's current text, and which step found it."""

    start: int
    end: int
    how: Literal["position", "quote", "context", "fuzzy"]


class Passage(Struct):
    id: int
    kind: Literal["question", "selection"]
    # "md:<key>": a question marked in the article's Markdown; "q:...": asked through the API;
    # "s:...": a reader's selection
    key: str
    question: str | None
    # a question taken out of the article: its answers stay, it takes no new ones
    active: bool
    # approved comments on the passage
    count: int
    selector: SelectorOut
    text_hash: str
    # for an article kibitz serves: where it is now (null: orphaned, "passage changed");
    # for a page elsewhere kibitz does not know the text: null, and orphaned is null
    found: FoundOut | None
    orphaned: bool | None


class PassageList(Struct):
    thread: str
    # the hash of the article's current text, when kibitz serves the article
    text_hash: str | None
    # readers may select any passage and comment on it
    reader_passages: bool
    passages: list[Passage]


class NewQuestion(Struct):
    thread: str
    question: str
    exact: str
    # needed only when the exact text occurs more than once in the article
    prefix: str = ""
    suffix: str = ""
    start: Offset | None = None
    # for a page kibitz does not serve: the selector as the page's normalised text has it
    end: Offset | None = None
    text_hash: str | None = None


class QuestionUpdate(Struct):
    question: str | None = None
    active: bool | None = None
