"""Verifying an HS256 JSON Web Token (RFC 7519 over RFC 7515's compact form), the one
kind of token Cairn accepts (DESIGN §6).

Why not PyJWT's `jwt.decode`: on these machines it took 74-78 µs a token, this takes
~13 µs (2026-12-02). A statement read costs the API ~350 µs of CPU in all, and with
100,000 learners most reads bring a token the process has not seen yet
(shared.auth.TokenCache), so the check was a fifth of a read. PyJWT still mints the
tokens (shared.auth.mint_token) and is the reference the tests compare this with, on
generated tokens (tests/unit/platform/test_hs256.py).

What is accepted, and nothing else (each refusal names why):
- three base64url segments without padding, the signature 32 bytes;
- a header that is a JSON object with "alg": "HS256", no "crit" (no extension is
  understood, RFC 7515 §4.1.11) and "b64", if there, true (RFC 7797);
- a signature equal, in constant time, to HMAC-SHA256 of "header.payload" as sent;
- claims that are a JSON object whose "exp" is a number (NumericDate, RFC 7519 §2; a
  bool or a numeric string is refused, where PyJWT takes them) not yet passed, "nbf"
  and "iat" if present (null too) numbers not in the future, no "aud" (no audience is
  configured: PyJWT refuses it too), "sub" and "jti" if present strings.
The required claims of Cairn's own (sub, role) are shared.auth's to check.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
from typing import Any

import orjson

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_SIGNATURE_BYTES = 32


class TokenRejected(Exception):
    """Why a token is refused; `expired` tells a passed `exp` from everything else."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


def _decode(segment: str, what: str) -> bytes:
    if not _SEGMENT.fullmatch(segment):
        raise TokenRejected(f"the {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as error:  # a length no base64 has (4n + 1)
        raise TokenRejected(f"the {what} is not base64url") from error


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise TokenRejected(f"the {what} is not JSON") from error
    if not isinstance(value, dict):
        raise TokenRejected(f"the {what} is not a JSON object")
    return value


def _numeric_date(claims: dict[str, Any], name: str) -> int | None:
    """The claim in whole seconds, as it is compared (as PyJWT does); None if absent.
    orjson reads no infinity or NaN, so every number has its int."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TokenRejected(f"{name} is not a NumericDate")
    return int(value)


def expiry(claims: dict[str, Any]) -> int:
    """The `exp` of claims `verify` returned, as it compared it: a cache of verified
    tokens (shared.auth.TokenCache) holds a token exactly as long as this."""
    return int(claims["exp"])


def verify(token: str, key: bytes, *, require: tuple[str, ...] = (),
           now: float | None = None) -> dict[str, Any]:
    """The token's claims if it is an HS256 JWT signed with `key`, carrying every claim
    of `require` (not null) and valid at `now` (default: the clock); TokenRejected
    otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRejected("a token is three dot-separated segments")
    head, payload, signature = parts
    header = _json_object(_decode(head, "header"), "header")
    if header.get("alg") != "HS256":
        raise TokenRejected("the algorithm is not HS256")
    if "crit" in header or header.get("b64", True) is not True:
        raise TokenRejected("the header asks for an extension this service does not know")
    body, mac = _decode(payload, "payload"), _decode(signature, "signature")
    signing_input = token[:len(head) + 1 + len(payload)].encode("ascii")  # base64url: ASCII
    if len(mac) != _SIGNATURE_BYTES or not hmac.compare_digest(
            mac, hmac.digest(key, signing_input, "sha256")):
        raise TokenRejected("the signature does not verify")
    claims = _json_object(body, "payload")
    for name in require:
        if claims.get(name) is None:
            raise TokenRejected(f"the token has no {name} claim")
    moment = time.time() if now is None else now
    exp = _numeric_date(claims, "exp")
    if exp is None:
        raise TokenRejected("exp is required")
    for name in ("nbf", "iat"):
        at = _numeric_date(claims, name)
        if at is not None and at > moment:
            raise TokenRejected(f"the token is not valid yet ({name})")
    if exp <= moment:
        raise TokenRejected("the token has expired", expired=True)
    if claims.get("aud"):
        raise TokenRejected("the token names an audience; this service expects none")
    for name in ("sub", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise TokenRejected(f"{name} is not a string")
    return claims
