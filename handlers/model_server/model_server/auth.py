"""Bearer JWTs (RS256) of one issuer and audience, checked against the issuer's JWKS.

The cryptography and the claim checks are PyJWT's (``jwt.decode`` with ``algorithms=
["RS256"]``): ``none`` and HMAC algorithms are refused, so a public key can never be used
as a shared secret. The JWKS is read once at start (``jwt.PyJWKClient``) and kept: a
request never waits on the issuer, and a key rotation is a restart of the server (a
token signed by a key the server has not read is refused as "unknown signing key").

The reasons in AuthError are fixed strings: a refusal never echoes the token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

ALGORITHMS = ["RS256"]
MIN_KEY_BITS = 2048
LEEWAY_S = 60  # clock skew between the issuer and this host
REQUIRED_CLAIMS = ["exp", "iss", "aud"]


class AuthError(Exception):
    """The request carries no valid token; the message says why (never the token)."""


class KeysError(Exception):
    """The issuer's signing keys cannot be read (at start): the server does not start."""


def signing_keys(keys: Iterable[jwt.PyJWK]) -> dict[str, jwt.PyJWK]:
    """``kid`` -> key, for the RS256 signing keys of at least MIN_KEY_BITS bits."""
    return {
        key.key_id or "": key
        for key in keys
        if key.public_key_use in (None, "sig")
        and key.algorithm_name == "RS256"
        and isinstance(key.key, RSAPublicKey)
        and key.key.key_size >= MIN_KEY_BITS
    }


def rsa_keys(jwks: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The RS256 signing keys of a JWKS document (keys PyJWT cannot use are skipped)."""
    try:
        return signing_keys(jwt.PyJWKSet.from_dict(dict(jwks)).keys)
    except jwt.PyJWKSetError:
        return {}


def fetch_keys(url: str, timeout_s: float = 5.0) -> dict[str, jwt.PyJWK]:
    """The issuer's RS256 signing keys, read once; KeysError says why there are none."""
    client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout_s)
    try:
        keys = signing_keys(client.get_signing_keys())
    except jwt.PyJWKClientConnectionError as exc:
        raise KeysError(f"cannot fetch the JWKS at {url}: {exc}") from None
    except (jwt.PyJWKClientError, jwt.PyJWKSetError) as exc:
        raise KeysError(f"no usable signing key in the JWKS at {url}: {exc}") from None
    if not keys:
        raise KeysError(f"no RS256 signing key of >= {MIN_KEY_BITS} bits in the JWKS at {url}")
    return keys


@dataclass(frozen=True, kw_only=True)
class JwtVerifier:
    issuer: str
    audience: str
    keys: Mapping[str, jwt.PyJWK] = field(default_factory=dict)
    leeway_s: int = LEEWAY_S

    @classmethod
    def from_issuer(cls, issuer: str, audience: str, jwks_url: str) -> JwtVerifier:
        """A verifier with the issuer's keys, fetched now (KeysError when there are none)."""
        return cls(issuer=issuer, audience=audience, keys=fetch_keys(jwks_url))

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The claims of the bearer token in an ``Authorization`` header value, or AuthError."""
        if not authorization or authorization[:7].lower() != "bearer ":
            raise AuthError("missing bearer token")
        token = authorization[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AuthError("malformed token") from None
        if header.get("alg") not in ALGORITHMS:
            raise AuthError("only RS256 tokens are accepted")
        key = self.keys.get(str(header.get("kid") or ""))
        if key is None:
            raise AuthError("unknown signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.InvalidSignatureError:
            raise AuthError("bad signature") from None
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token not valid yet") from None
        except jwt.InvalidIssuerError:
            raise AuthError("wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise AuthError("wrong audience") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token without the {exc.claim!r} claim") from None
        except jwt.InvalidTokenError:
            raise AuthError("malformed token") from None
        return claims
