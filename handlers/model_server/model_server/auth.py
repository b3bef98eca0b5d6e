"""Bearer JWTs (RS256) of one issuer and audience, checked against the issuer's JWKS.

Standard library only (the image stays small): RSASSA-PKCS1-v1_5 verification is one
modular exponentiation and a comparison with the *whole* expected encoding (never a
parse of the decrypted block, which is where signature forgeries come from). Only RS256
is accepted: ``none`` and HMAC algorithms are refused, so a public key can never be
used as a shared secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# DER DigestInfo prefix of SHA-256 (RFC 8017, section 9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
MIN_KEY_BITS = 2048


class AuthError(Exception):
    """The request carries no valid token; the message says why (never the token)."""


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _int(part: str) -> int:
    return int.from_bytes(_b64(part), "big")


def rsa_keys(jwks: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """``kid`` -> (modulus, exponent) of the RS256 signing keys of a JWKS document."""
    keys = {}
    for key in jwks.get("keys", []):
        if key.get("kty") != "RSA" or key.get("use", "sig") != "sig" or key.get("alg", "RS256") != "RS256":
            continue
        n = _int(key["n"])
        if n.bit_length() >= MIN_KEY_BITS:
            keys[str(key.get("kid", ""))] = (n, _int(key["e"]))
    return keys


def fetch_jwks(url: str, timeout_s: float = 5.0) -> dict[str, tuple[int, int]]:
    """The issuer's signing keys, read once at start (a key rotation is a task restart)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return rsa_keys(json.loads(response.read()))


def _pkcs1_ok(n: int, e: int, signed: bytes, signature: bytes) -> bool:
    size = (n.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    t = _SHA256_DIGEST_INFO + hashlib.sha256(signed).digest()
    expected = b"\x00\x01" + b"\xff" * (size - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(pow(s, e, n).to_bytes(size, "big"), expected)


@dataclass(frozen=True, kw_only=True)
class JwtVerifier:
    issuer: str
    audience: str
    keys: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    leeway_s: int = 60  # clock skew between the issuer and this host

    def verify(self, authorization: str | None, now: float | None = None) -> dict[str, Any]:
        """The claims of the bearer token in an ``Authorization`` header value, or AuthError."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthError("missing bearer token")
        token = authorization[7:].strip()
        parts = token.split(".")
        if len(parts) != 3:
            raise AuthError("malformed token")
        try:
            header = json.loads(_b64(parts[0]))
            claims = json.loads(_b64(parts[1]))
            signature = _b64(parts[2])
        except ValueError:
            raise AuthError("malformed token") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise AuthError("malformed token")
        if header.get("alg") != "RS256":
            raise AuthError("only RS256 tokens are accepted")
        key = self.keys.get(str(header.get("kid", "")))
        if key is None:
            raise AuthError("unknown signing key")
        if not _pkcs1_ok(key[0], key[1], f"{parts[0]}.{parts[1]}".encode(), signature):
            raise AuthError("bad signature")
        at = time.time() if now is None else now
        if claims.get("iss") != self.issuer:
            raise AuthError("wrong issuer")
        audience = claims.get("aud")
        if self.audience not in (audience if isinstance(audience, list) else [audience]):
            raise AuthError("wrong audience")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or at > exp + self.leeway_s:
            raise AuthError("token expired or without exp")
        nbf = claims.get("nbf", 0)
        if isinstance(nbf, int | float) and at + self.leeway_s < nbf:
            raise AuthError("token not valid yet")
        return claims
