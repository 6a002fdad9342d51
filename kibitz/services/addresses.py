"""E-mail addresses: what counts as one, and the single form every lookup uses."""

from __future__ import annotations

import re

from kibitz.services.errors import Invalid

EMAIL_RE = re.compile(r"^[^@\s<>\"',;%*?!\\]+@[^@\s<>\"',;%*?!\\]+\.[^@\s<>\"',;.%*?!\\]+$")
MAX_EMAIL = 254


def email_key(email: str) -> str:
    """Trimmed and lower-cased: ``Al@Example.org`` and ``al@example.org `` are one reader."""
    return email.strip().lower()


def check_email(
    email: str | None, field: str, *, required_message: str | None = None
) -> str | None:
    email = (email or "").strip()
    if not email:
        if required_message:
            raise Invalid("required", required_message, field)
        return None
    if len(email) > MAX_EMAIL or not EMAIL_RE.match(email):
        raise Invalid("invalid_email", "That is not an e-mail address.", field)
    return email
