"""Every setting kibitz reads, declared once with its type, default and help.

Values come from ``KIBITZ_<NAME>`` environment variables, then from an optional TOML file
(``KIBITZ_CONFIG``, default ``kibitz.toml`` when it exists), then from the defaults below.
``kibitz check`` and ``load_settings`` report every bad value at once.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

log = logging.getLogger("kibitz.settings")
DEV_SECRET = "development-only-insecure-secret-key"  # noqa: S105 (refused in production)


def _s(default: Any, help: str, *, secret: bool = False, choices: tuple[str, ...] = ()) -> Any:
    meta = {"help": help, "secret": secret, "choices": choices}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    # -- deployment
    env: Literal["development", "production"] = _s(
        "development",
        "`production` refuses placeholder secrets and insecure cookies.",
        choices=("development", "production"),
    )
    database_url: str = _s(
        "sqlite:///kibitz.db",
        "SQLAlchemy URL of the database: `sqlite:///path.db` or `postgresql://user@host/db`.",
    )
    secret_key: str = _s(
        "",
        "Key for signed cookies and keyed IP hashes; 32+ random characters. Required in "
        "production; development falls back to a fixed, insecure key.",
        secret=True,
    )
    public_url: str = _s(
        "http://127.0.0.1:8000",
        "The address readers reach kibitz at; used for links, feeds and cookie security.",
    )
    site_name: str = _s("kibitz", "The site's name, shown in feeds and pages.")
    support_url: str = _s(
        "", 'Where "Support <site>" calls to action lead (none shown when empty).'
    )
    host: str = _s("127.0.0.1", "Address `kibitz serve` binds to.")
    port: int = _s(8000, "Port `kibitz serve` listens on.")
    workers: int = _s(1, "Server processes for `kibitz serve`.")
    auto_migrate: bool = _s(True, "Apply database migrations when `kibitz serve` starts.")
    db_pool_size: int = _s(
        4, "Reader connections per process (PostgreSQL: the whole pool; SQLite: readers)."
    )
    log_level: str = _s("info", "Logging level.", choices=("debug", "info", "warning", "error"))
    access_log: bool = _s(
        False,
        "Log a line for every request `kibitz serve` answers (uvicorn's access log). Off by "
        "default: nginx in front logs them already, and the line costs a cached thread read "
        "about 40% of its CPU time.",
    )
    trust_forwarded_for: bool = _s(
        False,
        "Take the client address from X-Forwarded-For (only behind a trusted reverse proxy).",
    )

    # -- who may open threads and call the API from a browser
    allowed_origins: list[str] = _s(
        [],
        "Origins (scheme://host[:port]) whose pages may embed kibitz and open threads; the "
        "origin of public_url is always allowed.",
    )
    thread_url_patterns: list[str] = _s(
        ["/*"],
        "Glob patterns for the URL path of pages on which a first comment opens a thread.",
    )

    # -- comments
    require_name: bool = _s(True, "Guests must give a name.")
    require_email: bool = _s(False, "Guests must give an e-mail address.")
    allow_website: bool = _s(True, "Guests may give a website address.")
    guest_name: str = _s("Guest", "Name shown for a comment whose author gave none.")
    max_body_chars: int = _s(10_000, "Longest comment body, in characters of Markdown.")
    max_request_bytes: int = _s(65_536, "Largest request body the API accepts.")
    edit_window_seconds: int = _s(
        900, "How long after posting a reader may edit or delete their comment."
    )
    display_depth: int = _s(
        5,
        "Nesting levels shown (top level counts as one); deeper replies are shown flat "
        "under their deepest shown ancestor.",
    )
    page_size: int = _s(50, "Top-level comments on the first page of a thread.")
    max_page_size: int = _s(200, "Largest `limit` a client may ask for.")
    moderation: Literal["none", "first-time", "everyone", "all"] = _s(
        "first-time",
        "Pre-moderation: hold `none`, the comments of `first-time` commenters (until they are "
        "trusted), or `everyone`'s (`all` is an older name for `everyone`). Threads may "
        "override it.",
        choices=("none", "first-time", "everyone", "all"),
    )
    markdown_images: bool = _s(False, "Render Markdown images (otherwise their alt text).")
    markdown_raw_html: Literal["drop", "text"] = _s(
        "drop",
        "Raw HTML in a comment: `drop` its tags and keep the text between them (scripts, "
        "styles and HTML comments go whole), or show it as typed, as `text`. Never rendered.",
        choices=("drop", "text"),
    )
    links_new_tab: bool = _s(True, "Links in comments open in a new tab.")
    rate_limits: str = _s(
        "",
        "Overrides of the rate-limit table, e.g. `comment.voter=5/60,vote.ip=300/60` "
        "(requests/seconds). See docs/rate-limits.md.",
    )

    # -- mail and webhooks
    smtp_host: str = _s("", "SMTP server; empty writes mail to the log instead (development).")
    smtp_port: int = _s(587, "SMTP port.")
    smtp_security: Literal["starttls", "tls", "none"] = _s(
        "starttls",
        "`starttls`, `tls` (implicit TLS) or `none`.",
        choices=("starttls", "tls", "none"),
    )
    smtp_user: str = _s("", "SMTP user name (empty: no login).")
    smtp_password: str = _s("", "SMTP password.", secret=True)
    mail_from: str = _s("kibitz@localhost", "The From address of every mail.")
    mail_reply_to: str = _s("", "A Reply-To address (empty: none).")
    moderator_emails: list[str] = _s(
        [], "Addresses that get a mail for each comment waiting for approval."
    )
    moderator_mail_all: bool = _s(
        False, "Also mail the moderators about every new comment that needs no approval."
    )
    worker_in_process: bool = _s(
        True, "Run the mail and webhook worker inside `kibitz serve` (else run `kibitz worker`)."
    )
    outbox_give_up_hours: int = _s(
        72,
        "A mail or webhook that keeps failing is retried (30 s, 1 min, 2 min ... then hourly) "
        "until this many hours after it was queued, then given up as failed "
        "(`kibitz mail status`, `kibitz mail retry`, /admin/mail).",
    )
    outbox_lease_seconds: int = _s(
        120,
        "How long a worker may hold a claimed row before another takes it over; renewed "
        "before each send, so keep it above a send's timeout (30 s for SMTP).",
    )
    digest_interval_seconds: int = _s(86_400, "How often a digest subscriber gets mail.")
    webhook_urls: list[str] = _s([], "URLs that receive signed webhook events.")
    webhook_secret: str = _s(
        "", "Secret for signing webhooks (Standard Webhooks, `whsec_<base64>`).", secret=True
    )

    # -- reader funding
    time_zone: str = _s(
        "UTC",
        "The site's time zone (IANA name): each month of a monthly campaign starts at "
        "midnight here.",
    )
    locale: str = _s("en_US", "The site's locale for amounts and dates (Babel), e.g. `de_DE`.")
    money_format: str = _s(
        "#,##0 \u00a4",
        "Number pattern for amounts on funding bars (CLDR syntax, `\u00a4` is the currency "
        "sign); the default shows `2,500 $`. Receipts and the ledger show every minor digit.",
    )
    donations: bool = _s(
        True,
        "Offer kibitz's donation page (`/donate`); `Support` calls to action lead there "
        "unless support_url is set.",
    )
    funding_campaign: str = _s(
        "",
        "Slug of the campaign whose bar articles show; empty: the newest open campaign "
        "(or, when none is open, the one that ended last).",
    )
    funding_bar: bool = _s(True, "Show the featured campaign's funding bar above articles.")
    stripe_secret_key: str = _s(
        "", "Stripe secret (or restricted) API key, `sk_live_...` or `sk_test_...`; empty: no "
        "card payments.", secret=True,
    )  # fmt: skip
    stripe_webhook_secret: str = _s(
        "", "Signing secret of the Stripe webhook endpoint `/webhooks/stripe` (`whsec_...`).",
        secret=True,
    )  # fmt: skip
    stripe_api_base: str = _s(
        "https://api.stripe.com", "Stripe's API address (change only for a proxy or a test "
        "stand-in).",
    )  # fmt: skip
    # -- moderation (see docs/moderation.md)
    moderation_trust_after: int = _s(
        3,
        "In `first-time` mode, a commenter (their voter cookie) with this many approved "
        "comments is trusted and skips the queue.",
    )
    moderation_max_links: int = _s(2, "Hold comments with more links than this.")
    moderation_block_words: list[str] = _s(
        [], "Hold comments with any of these words or phrases (whole words, any case)."
    )
    moderation_block_domains: list[str] = _s(
        [], "Hold comments that link to these domains or their subdomains."
    )
    moderation_repeat_seconds: int = _s(
        86_400,
        "Hold a comment that repeats one posted this recently, by the same reader or (40+ "
        "characters) by anyone; 0 turns the check off.",
    )
    moderation_min_fill_seconds: int = _s(
        3,
        "A comment sent sooner than this after its form was shown is taken for spam; one sent "
        "without the form's token is held for a moderator. 0 turns both off.",
    )
    moderation_offensive_threshold: int = _s(
        90,
        "Hold comments whose offensive-language score (0-100, from the offline model) is "
        "above this; 100 turns holding off (the score is still shown).",
    )
    moderation_reports_to_hold: int = _s(
        3, "Reader reports after which a published comment is held for review."
    )
    moderation_plugins: list[str] = _s(
        [],
        "Modules with extra checks to load (pluggy hooks); installed packages that declare a "
        "`kibitz` entry point load by themselves.",
    )
    erasure_mode: Literal["delete", "anonymise"] = _s(
        "delete",
        "When a reader's data is erased, `delete` their comments (replies keep a placeholder) "
        "or `anonymise` them (the text stays, without name, address or cookies).",
        choices=("delete", "anonymise"),
    )
    admin_session_hours: int = _s(168, "How long a moderator stays logged in.")
    # -- backups (kibitz/backup/)
    backup_enabled: bool = _s(
        False,
        "Write an archive into backup_dir every backup_interval_seconds, from the process that "
        "runs the worker (`kibitz serve`, or `kibitz worker`). Or run `kibitz backup` from cron.",
    )
    backup_dir: str = _s("backups", "Folder for scheduled archives and `kibitz backup`.")
    backup_interval_seconds: int = _s(86_400, "How often a scheduled archive is written.")
    backup_keep: int = _s(7, "How many archives to keep in backup_dir; older ones are deleted.")
    # -- inline feedback (comments on a passage of the article)
    reader_passages: bool = _s(
        True,
        "Readers may select any passage of an article and comment on it (questions the "
        "publisher marks are answerable either way).",
    )

    # -- the dashboard's uploads (imports of comments, the donations ledger's CSV)
    upload_max_bytes: int = _s(
        256 * 1024 * 1024,
        "Largest file the dashboard takes for an import (another system's export, or a CSV of "
        "gifts); every other request keeps max_request_bytes.",
    )

    # -- speed
    cache_max_bytes: int = _s(64 * 1024 * 1024, "Memory for cached thread pages and counts.")
    fast_reads: bool = _s(
        True,
        "Answer thread reads and comment counts in front of the web framework (the same "
        "answers, faster); `false` sends them through the framework like every other "
        "request, to compare or to rule the fast path out.",
    )

    # -- live updates, several processes, monitoring
    redis_url: str = _s(
        "",
        "Redis shared by several kibitz processes (pub/sub, cache invalidation, rate limits, "
        "stream limits), e.g. `redis://127.0.0.1:6379/0`. Empty: one process, nothing to install.",
    )
    redis_prefix: str = _s(
        "kibitz:", "Prefix of every Redis key and channel, so several sites can share one Redis."
    )
    redis_stale_seconds: int = _s(
        2,
        "With Redis: a process stops serving cached pages this long after it last heard from "
        "Redis, and reads the database until Redis answers again.",
    )
    cache_max_age_seconds: int = _s(
        60,
        "A cached page is read from the database again after this long, even if no change was "
        "announced (a process that died between a write and its announcement).",
    )
    live_heartbeat_seconds: int = _s(
        20, "A `ping` event this often on every open event stream (keeps proxies from closing it)."
    )
    live_idle_seconds: int = _s(
        14 * 24 * 3600,
        "Threads without a new comment for this long get no event stream (HTTP 204).",
    )
    live_streams_per_client: int = _s(
        20, "Event streams one address may hold open at once (per process without Redis)."
    )
    live_max_streams: int = _s(10_000, "Event streams one process holds open at most.")
    live_stream_max_seconds: int = _s(
        3600,
        "An event stream is closed after about this long; the browser reconnects and resumes, "
        "which spreads streams over the processes again.",
    )
    live_retention_seconds: int = _s(
        7 * 24 * 3600,
        "How long events are kept for streams that resume with Last-Event-ID; an older resume "
        "gets a `reset` event (reload the thread).",
    )
    metrics_token: str = _s(
        "",
        "Bearer token that /metrics requires. Empty: /metrics answers only requests made "
        "directly on the loopback interface, never those relayed by a proxy.",
        secret=True,
    )
    shutdown_grace_seconds: int = _s(
        5,
        "On SIGTERM, how long `kibitz serve` waits for requests to finish before it closes "
        "open event streams (browsers reconnect to another process).",
    )

    @property
    def support_link(self) -> str:
        """Where "Support <site>" calls to action lead (empty: none are shown)."""
        return self.support_url or ("/donate" if self.donations else "")

    @property
    def stripe_mode(self) -> Literal["live", "test"] | None:
        key = self.stripe_secret_key
        if not key:
            return None
        return "live" if key.startswith(("sk_live_", "rk_live_")) else "test"

    @property
    def effective_secret(self) -> str:
        return self.secret_key or DEV_SECRET

    @property
    def public_origin(self) -> str:
        return origin_of(self.public_url) or "http://127.0.0.1:8000"

    @property
    def origins(self) -> frozenset[str]:
        return frozenset([self.public_origin, *(o.rstrip("/") for o in self.allowed_origins)])

    @property
    def premoderation(self) -> str:
        """The site's pre-moderation mode, with the older name `all` read as `everyone`."""
        return "everyone" if self.moderation == "all" else self.moderation

    @property
    def cookie_secure(self) -> bool:
        return self.public_url.startswith("https://")


# Settings that no longer do anything: accepted (so configurations that set them still load)
# and ignored, with a warning in the log, each with what replaced it.
RETIRED: dict[str, str] = {
    "outbox_max_attempts": "ignored since kibitz gives up on a failing mail or webhook by "
    "its age, KIBITZ_OUTBOX_GIVE_UP_HOURS (a count of tries gave up after about an hour)",
}


class SettingsError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def setting_fields() -> list[dataclasses.Field[Any]]:
    return list(fields(Settings))


def env_name(name: str) -> str:
    return f"KIBITZ_{name.upper()}"


def _type_name(f: dataclasses.Field[Any]) -> str:
    return str(f.type).replace("typing.", "")


def _parse(f: dataclasses.Field[Any], raw: Any) -> Any:
    kind = _type_name(f)
    if kind.startswith("list"):
        if isinstance(raw, list):
            return [str(x).strip() for x in raw if str(x).strip()]
        return [x.strip() for x in str(raw).split(",") if x.strip()]
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        low = str(raw).strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if kind == "int":
        if isinstance(raw, bool):
            raise ValueError(f"expected a whole number, got {raw!r}")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"expected a whole number, got {raw!r}") from None
    value = str(raw)
    choices = f.metadata.get("choices") or ()
    if choices and value not in choices:
        raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
    return value


_RATE_RE = re.compile(r"^\s*([a-z.]+)\s*=\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_rate_overrides(text: str) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = _RATE_RE.match(part)
        if not m:
            raise ValueError(f"expected name=requests/seconds, got {part!r}")
        out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return out


def _validate(s: Settings) -> list[str]:
    from kibitz.ratelimit import RATE_LIMITS  # the table lives with the limiter

    problems: list[str] = []

    def bad(name: str, why: str) -> None:
        problems.append(f"{env_name(name)}: {why}")

    if not s.database_url.startswith(("sqlite:", "sqlite+", "postgresql:", "postgresql+")):
        bad("database_url", "must start with sqlite:/// or postgresql://")
    if origin_of(s.public_url) is None:
        bad("public_url", f"not an http(s) URL: {s.public_url!r}")
    for o in s.allowed_origins:
        if origin_of(o) != o.rstrip("/").lower() or urlsplit(o).path not in ("", "/"):
            bad("allowed_origins", f"not an origin (scheme://host[:port]): {o!r}")
    for p in s.thread_url_patterns:
        if not p.startswith("/"):
            bad("thread_url_patterns", f"a pattern is a URL path starting with '/': {p!r}")
    positive = (
        "port", "workers", "db_pool_size", "max_body_chars", "max_request_bytes",
        "display_depth", "page_size", "max_page_size", "cache_max_bytes", "smtp_port",
        "outbox_give_up_hours", "outbox_lease_seconds", "digest_interval_seconds",
        "redis_stale_seconds", "cache_max_age_seconds", "live_heartbeat_seconds",
        "live_idle_seconds", "live_streams_per_client", "live_max_streams",
        "live_stream_max_seconds", "live_retention_seconds", "shutdown_grace_seconds",
    )  # fmt: skip
    for name in positive:
        if getattr(s, name) < 1:
            bad(name, "must be at least 1")
    for name in ("moderation_trust_after", "moderation_reports_to_hold", "admin_session_hours"):
        if getattr(s, name) < 1:
            bad(name, "must be at least 1")
    for name in ("moderation_max_links", "moderation_repeat_seconds",
                 "moderation_min_fill_seconds"):  # fmt: skip
        if getattr(s, name) < 0:
            bad(name, "must not be negative")
    if not 0 <= s.moderation_offensive_threshold <= 100:
        bad("moderation_offensive_threshold", "must be from 0 to 100")
    for module in s.moderation_plugins:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            bad("moderation_plugins", f"no module {module!r} can be imported")
    for name in ("backup_interval_seconds", "backup_keep"):
        if getattr(s, name) < 1:
            bad(name, "must be at least 1")
    if s.edit_window_seconds < 0:
        bad("edit_window_seconds", "must not be negative")
    if s.page_size > s.max_page_size:
        bad("page_size", f"must not exceed max_page_size ({s.max_page_size})")
    try:
        for key in parse_rate_overrides(s.rate_limits):
            if key not in RATE_LIMITS:
                bad("rate_limits", f"unknown limit {key!r}; known: {', '.join(RATE_LIMITS)}")
    except ValueError as exc:
        bad("rate_limits", str(exc))
    for url in s.webhook_urls:
        if origin_of(url) is None:
            bad("webhook_urls", f"not an http(s) URL: {url!r}")
    if s.redis_url and not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        bad("redis_url", "must start with redis://, rediss:// or unix://")
    if s.live_heartbeat_seconds * 2 > s.live_stream_max_seconds:
        bad("live_stream_max_seconds", "must be at least twice live_heartbeat_seconds")
    if s.webhook_urls and not s.webhook_secret:
        bad("webhook_secret", "webhooks need a signing secret")
    problems.extend(_funding_problems(s))
    if s.upload_max_bytes < s.max_request_bytes:
        bad("upload_max_bytes", f"must be at least max_request_bytes ({s.max_request_bytes})")
    if s.env == "production":
        if not s.secret_key or s.secret_key == DEV_SECRET or len(s.secret_key) < 32:
            bad("secret_key", "production needs a random secret of at least 32 characters")
        if not s.cookie_secure:
            bad("public_url", "production needs an https:// public_url (cookies are Secure)")
    return problems


def _funding_problems(s: Settings) -> list[str]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from kibitz import money

    problems: list[str] = []
    try:
        ZoneInfo(s.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{env_name('time_zone')}: not an IANA time zone: {s.time_zone!r}")
    for name, check in (("locale", money.check_locale), ("money_format", money.check_pattern)):
        try:
            check(getattr(s, name))
        except money.MoneyError as exc:
            problems.append(f"{env_name(name)}: {exc}")
    key, hook = s.stripe_secret_key, s.stripe_webhook_secret
    if key and not key.startswith(("sk_live_", "sk_test_", "rk_live_", "rk_test_")):
        problems.append(f"{env_name('stripe_secret_key')}: expected sk_live_, sk_test_ or rk_...")
    if hook and not hook.startswith("whsec_"):
        problems.append(f"{env_name('stripe_webhook_secret')}: expected whsec_...")
    if bool(key) != bool(hook):
        problems.append(
            f"{env_name('stripe_webhook_secret' if key else 'stripe_secret_key')}: Stripe needs "
            "both the API key and the webhook signing secret (donations are recorded only "
            "from signed webhooks)"
        )
    base = origin_of(s.stripe_api_base)
    if base is None or urlsplit(s.stripe_api_base).path not in ("", "/"):
        problems.append(f"{env_name('stripe_api_base')}: not an http(s) origin")
    elif s.env == "production" and not base.startswith("https://"):
        problems.append(f"{env_name('stripe_api_base')}: production talks to Stripe over https")
    return problems


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: str | Path | None = None
) -> Settings:
    """Read settings; raise SettingsError listing every problem at once."""
    environ = os.environ if environ is None else environ
    file_values: dict[str, Any] = {}
    path = Path(config_file or environ.get("KIBITZ_CONFIG", "kibitz.toml"))
    problems: list[str] = []
    if path.is_file():
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: not valid TOML: {exc}")
    elif config_file is not None or "KIBITZ_CONFIG" in environ:
        problems.append(f"{path}: configuration file not found")
    known = {f.name for f in setting_fields()}
    for key in file_values:
        if key in RETIRED:
            log.warning("%s: setting %r is %s", path, key, RETIRED[key])
        elif key not in known:
            problems.append(f"{path}: unknown setting {key!r}")
    for key in environ:
        if key.startswith("KIBITZ_") and key[7:].lower() in RETIRED:
            log.warning("%s is %s", key, RETIRED[key[7:].lower()])
        elif key.startswith("KIBITZ_") and key != "KIBITZ_CONFIG" and key[7:].lower() not in known:
            problems.append(f"{key}: unknown setting")
    values: dict[str, Any] = {}
    for f in setting_fields():
        raw: Any
        if env_name(f.name) in environ:
            raw = environ[env_name(f.name)]
        elif f.name in file_values:
            raw = file_values[f.name]
        else:
            continue
        try:
            values[f.name] = _parse(f, raw)
        except ValueError as exc:
            problems.append(f"{env_name(f.name)}: {exc}")
    settings = Settings(**values)
    problems.extend(_validate(settings))
    if problems:
        raise SettingsError(problems)
    return settings


def default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def describe_default(f: dataclasses.Field[Any]) -> str:
    value = default_of(f)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def settings_reference_markdown() -> str:
    """docs/settings.md, generated from the declarations above."""
    lines = [
        "# Settings",
        "",
        "Generated by `kibitz settings --markdown`; do not edit by hand.",
        "Each setting is read from the environment variable shown, then from `kibitz.toml`.",
        "",
        "| Variable | Type | Default | Help |",
        "| --- | --- | --- | --- |",
    ]
    for f in setting_fields():
        default = describe_default(f).replace("|", "\\|") or "(empty)"
        help_text = f.metadata["help"].replace("|", "\\|")
        lines.append(f"| `{env_name(f.name)}` | {_type_name(f)} | `{default}` | {help_text} |")
    if RETIRED:
        lines += ["", "## Retired settings", "",
                  "Still accepted, so that a configuration that sets them loads; a warning says "
                  "they are ignored.", ""]  # fmt: skip
        lines += [f"- `{env_name(name)}`: {why}." for name, why in RETIRED.items()]
    return "\n".join(lines) + "\n"


def example_toml() -> str:
    """kibitz.example.toml, generated from the declarations above."""
    out = [
        "# kibitz configuration: every setting with its default.",
        "# Copy to kibitz.toml and uncomment what you change; KIBITZ_<NAME> environment",
        "# variables take precedence. Generated by `kibitz settings --toml`.",
        "",
    ]
    for f in setting_fields():
        out.append(f"# {f.metadata['help']}")
        kind = _type_name(f)
        value = default_of(f)
        if kind.startswith("list"):
            rendered = "[" + ", ".join(f'"{v}"' for v in value) + "]"
        elif kind == "bool":
            rendered = "true" if value else "false"
        elif kind == "int":
            rendered = str(value)
        else:
            rendered = f'"{value}"'
        out.append(f"# {f.name} = {rendered}")
        out.append("")
    return "\n".join(out)
