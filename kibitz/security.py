"""Secrets derived from the site key: signed cookie values, keyed IP hashes, random tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_token(nbytes: int = 24) -> str:
    return _b64(secrets.token_bytes(nbytes))


def hash_token(token: str) -> str:
    """What the database keeps of an edit or API token (the token itself is never stored)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Signer:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(("kibitz-signing:" + secret).encode("utf-8")).digest()
        self._ip_key = hashlib.sha256(("kibitz-ip:" + secret).encode("utf-8")).digest()

    def _mac(self, purpose: str, value: str) -> str:
        msg = f"{purpose}\x00{value}".encode()
        return _b64(hmac.new(self._key, msg, hashlib.sha256).digest()[:18])

    def sign(self, purpose: str, value: str) -> str:
        return f"{value}.{self._mac(purpose, value)}"

    def unsign(self, purpose: str, signed: str | None) -> str | None:
        if not signed or "." not in signed or len(signed) > 512:
            return None
        value, _, mac = signed.rpartition(".")
        if hmac.compare_digest(mac, self._mac(purpose, value)):
            return value
        return None

    def keyed_hash(self, purpose: str, value: str) -> str:
        """A hash only this site can compute: matches a value without storing it."""
        msg = f"{purpose}\x00{value}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:32]

    def ip_hash(self, ip: str | None) -> str | None:
        """A keyed hash of the address (IPv6 by its /64), usable only for counting."""
        if not ip:
            return None
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if addr.version == 6:
            mapped = addr.ipv4_mapped
            if mapped is not None:
                key = str(mapped)
            else:
                key = str(ipaddress.ip_network(f"{addr}/64", strict=False))
        else:
            key = str(addr)
        return hmac.new(self._ip_key, key.encode(), hashlib.sha256).hexdigest()[:32]
