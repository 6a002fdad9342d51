"""Moderator and admin accounts: passwords (argon2id), sessions, invitations and the optional
second factor (TOTP, RFC 6238).

Admins moderate and also manage accounts; moderators moderate. The first admin is made with
``kibitz admin create``; the rest are invited from the dashboard. Sessions are random tokens
in an HttpOnly cookie, of which the database keeps only a hash.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
import segno
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.db.tables import ROLES, accounts, admin_sessions, invites
from kibitz.mail import messages, outbox
from kibitz.security import hash_token, new_token
from kibitz.services import audit
from kibitz.services import threads as thread_service
from kibitz.services.addresses import check_email, email_key
from kibitz.services.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized

MIN_PASSWORD = 10
MAX_PASSWORD = 1000
INVITE_HOURS = 72
TOTP_ISSUER = "kibitz"
# argon2id with the library's defaults (RFC 9106's second recommended profile, 64 MiB)
hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when an address has no account, so that both refusals take as long."""
    return hasher.hash(new_token())


@dataclass(frozen=True)
class Moderator:
    """The logged-in account, as handlers see it."""

    id: int
    email: str
    name: str
    role: str
    totp: bool

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> audit.Actor:
        return audit.Actor(self.id, self.name, self.role)


def _moderator(row: Any) -> Moderator:
    return Moderator(row.id, row.email, row.name, row.role, row.totp_secret is not None)


def check_password(password: str, field: str = "password") -> str:
    if len(password) < MIN_PASSWORD:
        raise Invalid("too_short", f"A password has at least {MIN_PASSWORD} characters.", field)
    if len(password) > MAX_PASSWORD:
        raise Invalid("too_long", "That password is too long.", field)
    return password


def _check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise Invalid("invalid_name", "A name has 1 to 100 characters.", "name")
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise Invalid("invalid_role", f"A role is one of {', '.join(ROLES)}.", "role")
    return role


def _insert_account(
    conn: Connection, email: str, name: str, role: str, password: str, now: datetime
) -> int:
    taken = conn.execute(sa.select(accounts.c.id).where(accounts.c.email_key == email_key(email)))
    if taken.first() is not None:
        raise Conflict("account_exists", f"There is an account for {email} already.", "email")
    account_id: int = conn.execute(
        sa.insert(accounts)
        .values(
            email=email,
            email_key=email_key(email),
            name=name,
            role=role,
            password_hash=hasher.hash(password),
            created_at=now,
        )
        .returning(accounts.c.id)
    ).scalar_one()
    return account_id


async def create(
    kb: Kibitz,
    email: str,
    name: str,
    password: str,
    role: str = "admin",
    actor: audit.Actor = audit.SYSTEM,
) -> int:
    address = check_email(email, "email", required_message="An e-mail address is needed.") or ""
    name, role = _check_name(name), _check_role(role)
    check_password(password)
    now = thread_service.now()

    def tx(conn: Connection) -> int:
        account_id = _insert_account(conn, address, name, role, password, now)
        audit.record(
            conn,
            actor,
            "create_account",
            f"account:{account_id}",
            after={"name": name, "role": role},
            now=now,
        )
        return account_id

    return await kb.db.write(tx)


# -- logging in


def _totp_step(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    """The time step the code belongs to (this one or a neighbour, for clock drift), unless
    it was used already: a code works once."""
    code = "".join(code.split())
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(at.timestamp()) // totp.interval
    for step in (now_step, now_step - 1, now_step + 1):
        if last_step is not None and step <= last_step:
            continue
        if totp.verify(code, for_time=step * totp.interval):
            return step
    return None


async def authenticate(kb: Kibitz, email: str, password: str, code: str = "") -> Moderator:
    """The account, if the password (and the code, once TOTP is set up) are right. The
    refusal says the same whichever part was wrong."""
    wrong = Unauthorized("login_failed", "Wrong e-mail address, password or code.")
    key = email_key(email)
    row = await kb.db.read(
        lambda conn: conn.execute(sa.select(accounts).where(accounts.c.email_key == key)).first()
    )
    try:
        hasher.verify(row.password_hash if row is not None else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        raise wrong from None
    if row is None or row.disabled_at is not None:
        raise wrong
    now = thread_service.now()
    step = None
    if row.totp_secret is not None:
        step = _totp_step(row.totp_secret, code, now, row.totp_last_step)
        if step is None:
            raise wrong
    rehash = hasher.check_needs_rehash(row.password_hash)

    def tx(conn: Connection) -> None:
        values: dict[str, Any] = {"last_login_at": now}
        if step is not None:
            values["totp_last_step"] = step
        if rehash:
            values["password_hash"] = hasher.hash(password)
        query = sa.update(accounts).where(accounts.c.id == row.id)
        if step is not None:  # two log-ins racing with one code: only one wins
            query = query.where(
                sa.or_(accounts.c.totp_last_step.is_(None), accounts.c.totp_last_step < step)
            )
        if conn.execute(query.values(**values)).rowcount == 0:
            raise wrong

    await kb.db.write(tx)
    return _moderator(row)


# -- sessions


async def start_session(kb: Kibitz, account_id: int) -> str:
    token = new_token(32)
    now = thread_service.now()
    expires = now + timedelta(hours=kb.settings.admin_session_hours)

    def tx(conn: Connection) -> None:
        conn.execute(sa.delete(admin_sessions).where(admin_sessions.c.expires_at < now))
        conn.execute(
            sa.insert(admin_sessions).values(
                token_hash=hash_token(token),
                account_id=account_id,
                created_at=now,
                expires_at=expires,
                last_seen_at=now,
            )
        )

    await kb.db.write(tx)
    return token


async def session(kb: Kibitz, token: str | None) -> Moderator | None:
    """The account a session cookie belongs to, if the session is live."""
    if not token or len(token) > 100:
        return None
    now = thread_service.now()
    query = (
        sa.select(accounts)
        .join(admin_sessions, admin_sessions.c.account_id == accounts.c.id)
        .where(
            admin_sessions.c.token_hash == hash_token(token),
            admin_sessions.c.expires_at > now,
            accounts.c.disabled_at.is_(None),
        )
    )
    row = await kb.db.read(lambda conn: conn.execute(query).first())
    return _moderator(row) if row is not None else None


async def end_session(kb: Kibitz, token: str | None) -> None:
    if token:
        await kb.db.write(
            lambda conn: conn.execute(
                sa.delete(admin_sessions).where(admin_sessions.c.token_hash == hash_token(token))
            )
        )


def _end_all(conn: Connection, account_id: int, keep: str | None = None) -> None:
    query = sa.delete(admin_sessions).where(admin_sessions.c.account_id == account_id)
    if keep:
        query = query.where(admin_sessions.c.token_hash != hash_token(keep))
    conn.execute(query)


# -- one's own account: password, second factor


async def change_password(
    kb: Kibitz, me: Moderator, current: str, new: str, keep_session: str | None
) -> None:
    check_password(new, "new_password")
    row = await kb.db.read(
        lambda conn: conn.execute(sa.select(accounts).where(accounts.c.id == me.id)).one()
    )
    try:
        hasher.verify(row.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise Forbidden("wrong_password", "The current password is wrong.", "password") from None
    now = thread_service.now()

    def tx(conn: Connection) -> None:
        conn.execute(
            sa.update(accounts).where(accounts.c.id == me.id).values(password_hash=hasher.hash(new))
        )
        _end_all(conn, me.id, keep=keep_session)  # other browsers must log in again
        audit.record(conn, me.actor, "change_password", f"account:{me.id}", now=now)

    await kb.db.write(tx)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(me: Moderator, secret: str, site: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=me.email, issuer_name=site or TOTP_ISSUER)


def totp_qr(uri: str) -> str:
    """The provisioning address as an SVG QR code in a data: URL, for the setup page."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


async def enable_totp(kb: Kibitz, me: Moderator, secret: str, code: str) -> None:
    if len(secret) < 16 or any(ch not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for ch in secret):
        raise Invalid("invalid_secret", "Start the set-up again.", "secret")
    now = thread_service.now()
    step = _totp_step(secret, code, now, None)
    if step is None:
        raise Invalid("wrong_code", "That code is not right; check the phone's clock.", "code")

    def tx(conn: Connection) -> None:
        conn.execute(
            sa.update(accounts)
            .where(accounts.c.id == me.id)
            .values(totp_secret=secret, totp_last_step=step)
        )
        audit.record(conn, me.actor, "enable_totp", f"account:{me.id}", now=now)

    await kb.db.write(tx)


async def disable_totp(kb: Kibitz, actor: audit.Actor, account_id: int) -> None:
    now = thread_service.now()

    def tx(conn: Connection) -> None:
        done = conn.execute(
            sa.update(accounts)
            .where(accounts.c.id == account_id)
            .values(totp_secret=None, totp_last_step=None)
        ).rowcount
        if not done:
            raise NotFound("account_not_found", "There is no such account.")
        audit.record(conn, actor, "disable_totp", f"account:{account_id}", now=now)

    await kb.db.write(tx)


# -- invitations and the list of accounts (admins only)


async def invite(kb: Kibitz, actor: audit.Actor, email: str, role: str) -> str:
    """Invite an address to make an account; the link goes out by mail. Returns the link."""
    address = check_email(email, "email", required_message="An e-mail address is needed.") or ""
    role = _check_role(role)
    token = new_token(32)
    now = thread_service.now()
    link = messages._url(kb, "/admin/invite", token=token)

    def tx(conn: Connection) -> None:
        exists = conn.execute(
            sa.select(accounts.c.id).where(accounts.c.email_key == email_key(address))
        ).first()
        if exists is not None:
            raise Conflict("account_exists", f"There is an account for {address} already.", "email")
        invite_id = conn.execute(
            sa.insert(invites)
            .values(
                email=address,
                role=role,
                token_hash=hash_token(token),
                created_by=actor.account_id,
                created_at=now,
                expires_at=now + timedelta(hours=INVITE_HOURS),
            )
            .returning(invites.c.id)
        ).scalar_one()
        payload = messages.invitation(kb, address, actor.name, role, link, INVITE_HOURS)
        outbox.enqueue(conn, "mail", f"invite:{invite_id}", payload, at=now)
        audit.record(
            conn,
            actor,
            "invite",
            f"invite:{invite_id}",
            after={"email": address, "role": role},
            now=now,
        )

    await kb.db.write(tx)
    kb.wake_worker()
    return link


def _live_invite(conn: Connection, token: str, now: datetime) -> Any:
    row = conn.execute(
        sa.select(invites).where(
            invites.c.token_hash == hash_token(token),
            invites.c.used_at.is_(None),
            invites.c.expires_at > now,
        )
    ).first()
    if row is None:
        raise Forbidden(
            "invalid_link", "This invitation is not valid (or has expired, or was used)."
        )
    return row


async def invitation(kb: Kibitz, token: str) -> Any:
    now = thread_service.now()
    return await kb.db.read(lambda conn: _live_invite(conn, token, now))


async def accept(kb: Kibitz, token: str, name: str, password: str) -> int:
    name = _check_name(name)
    check_password(password)
    now = thread_service.now()

    def tx(conn: Connection) -> int:
        row = _live_invite(conn, token, now)
        used = conn.execute(
            sa.update(invites)
            .where(invites.c.id == row.id, invites.c.used_at.is_(None))
            .values(used_at=now)
        ).rowcount
        if not used:
            raise Forbidden("invalid_link", "This invitation was used already.")
        account_id = _insert_account(conn, row.email, name, row.role, password, now)
        actor = audit.Actor(account_id, name, row.role)
        audit.record(
            conn,
            actor,
            "accept_invite",
            f"account:{account_id}",
            after={"name": name, "role": row.role, "invite": row.id},
            now=now,
        )
        return account_id

    return await kb.db.write(tx)


async def listing(kb: Kibitz) -> tuple[list[Any], list[Any]]:
    """The accounts, and the invitations not yet used."""
    query = sa.select(accounts).order_by(accounts.c.id)
    pending = (
        sa.select(invites)
        .where(invites.c.used_at.is_(None), invites.c.expires_at > thread_service.now())
        .order_by(invites.c.id.desc())
    )
    return await kb.db.read(lambda conn: (list(conn.execute(query)), list(conn.execute(pending))))


async def set_disabled(kb: Kibitz, actor: audit.Actor, account_id: int, disabled: bool) -> None:
    if disabled and actor.account_id == account_id:
        raise Forbidden("not_yourself", "You cannot disable your own account.")
    now = thread_service.now()

    def tx(conn: Connection) -> None:
        row = conn.execute(sa.select(accounts).where(accounts.c.id == account_id)).first()
        if row is None:
            raise NotFound("account_not_found", "There is no such account.")
        if disabled and row.role == "admin":
            admins = conn.execute(
                sa.select(sa.func.count()).where(
                    accounts.c.role == "admin", accounts.c.disabled_at.is_(None)
                )
            ).scalar_one()
            if admins <= 1:
                raise Forbidden("last_admin", "The last admin cannot be disabled.")
        conn.execute(
            sa.update(accounts)
            .where(accounts.c.id == account_id)
            .values(disabled_at=now if disabled else None)
        )
        if disabled:
            _end_all(conn, account_id)
        audit.record(
            conn,
            actor,
            "disable_account" if disabled else "enable_account",
            f"account:{account_id}",
            now=now,
        )

    await kb.db.write(tx)


async def set_password(kb: Kibitz, email: str, password: str) -> None:
    """From the command line: a new password for an account (its sessions end)."""
    check_password(password)
    now = thread_service.now()

    def tx(conn: Connection) -> None:
        row = conn.execute(
            sa.select(accounts).where(accounts.c.email_key == email_key(email))
        ).first()
        if row is None:
            raise NotFound("account_not_found", f"There is no account for {email}.", "email")
        conn.execute(
            sa.update(accounts)
            .where(accounts.c.id == row.id)
            .values(password_hash=hasher.hash(password))
        )
        _end_all(conn, row.id)
        audit.record(conn, audit.SYSTEM, "reset_password", f"account:{row.id}", now=now)

    await kb.db.write(tx)


async def by_email(kb: Kibitz, email: str) -> Any:
    row = await kb.db.read(
        lambda conn: conn.execute(
            sa.select(accounts).where(accounts.c.email_key == email_key(email))
        ).first()
    )
    if row is None:
        raise NotFound("account_not_found", f"There is no account for {email}.", "email")
    return row
