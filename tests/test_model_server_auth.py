"""A public model server refuses requests without a valid bearer JWT and serves those with one.

The enforcement point is the server (``handlers/model_server/model_server/auth.py``, PyJWT):
the WAF only refuses requests with no ``Authorization: Bearer`` at all. Tokens are signed
here by hand (cryptography, not PyJWT) with a throwaway RSA key whose JWKS a stand-in
issuer serves on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from model_server.auth import AuthError, JwtVerifier, KeysError, fetch_keys, rsa_keys
from model_server.config import Config, ConfigError

from tools.harness.model_server_process import ModelServerProcess, infer_body, train_default_model
from tools.harness.moto_server import HOST, free_port

ISSUER, AUDIENCE = "https://idp.example.com/tenant", "models"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ROW = [13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwks(key: rsa.RSAPrivateKey = KEY, kid: str = "k1") -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    return {
        "keys": [
            {
                "kty": "RSA",
                "kid": kid,
                "use": "sig",
                "alg": "RS256",
                "n": b64(numbers.n.to_bytes(size, "big")),
                "e": b64(numbers.e.to_bytes(3, "big")),
            }
        ]
    }


def token(claims: dict[str, Any] | None = None, key: rsa.RSAPrivateKey = KEY, alg: str = "RS256") -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "client-1", "iat": now, "exp": now + 300, **(claims or {})}
    body = {k: v for k, v in body.items() if v is not None}  # a claim set to None is left out
    head = b64(json.dumps({"alg": alg, "kid": "k1", "typ": "JWT"}).encode())
    signed = f"{head}.{b64(json.dumps(body).encode())}"
    signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signed}.{b64(signature)}"


VERIFIER = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, keys=rsa_keys(jwks()))


def test_a_valid_token_is_accepted() -> None:
    assert VERIFIER.verify(f"Bearer {token()}")["sub"] == "client-1"
    assert VERIFIER.verify(f"bearer {token({'aud': ['other', AUDIENCE]})}")["sub"] == "client-1"
    assert VERIFIER.verify(f"Bearer {token({'exp': int(time.time()) - 30})}"), "60 s of clock skew are allowed"


# Headers are built when the test runs, not at collection: under pytest-xdist the fast tests
# run after the emulator round trips, ten minutes later, when a collected token has expired.
REFUSED: list[tuple[Callable[[], str | None], str]] = [
    (lambda: None, "missing"),
    (lambda: "Basic dXNlcjpwYXNz", "missing"),
    (lambda: "Bearer abc.def", "malformed"),
    (lambda: f"Bearer {token(key=OTHER)}", "bad signature"),
    (lambda: f"Bearer {token({'iss': 'https://evil.example.com'})}", "wrong issuer"),
    (lambda: f"Bearer {token({'aud': 'other'})}", "wrong audience"),
    (lambda: f"Bearer {token({'exp': int(time.time()) - 3600})}", "expired"),
    (lambda: f"Bearer {token({'nbf': int(time.time()) + 3600})}", "not valid yet"),
    (lambda: f"Bearer {token({'exp': None})}", "without the 'exp' claim"),
    (lambda: f"Bearer {token({'aud': None})}", "without the 'aud' claim"),
    (lambda: f"Bearer {token({'iss': None})}", "without the 'iss' claim"),
    (lambda: f"Bearer {token(alg='HS256')}", "only RS256"),
    (lambda: f"Bearer {token(alg='none')}", "only RS256"),
    (lambda: f"Bearer {token().rsplit('.', 1)[0]}.", "bad signature"),
]


@pytest.mark.parametrize(("make_header", "why"), REFUSED, ids=[why for _, why in REFUSED])
def test_an_unauthenticated_request_is_refused_with_the_reason(make_header: Callable[[], str | None], why: str) -> None:
    header = make_header()
    with pytest.raises(AuthError, match=why) as refused:
        VERIFIER.verify(header)
    assert header is None or header.split()[-1] not in str(refused.value), "the reason never echoes the token"


def test_a_token_with_a_tampered_payload_is_refused() -> None:
    head, _, signature = token().split(".")
    forged = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "admin", "exp": int(time.time()) + 300}).encode())
    with pytest.raises(AuthError, match="bad signature"):
        VERIFIER.verify(f"Bearer {head}.{forged}.{signature}")


def test_a_token_of_a_key_the_server_has_not_read_is_refused() -> None:
    verifier = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, keys=rsa_keys(jwks(kid="other")))
    with pytest.raises(AuthError, match="unknown signing key"):
        verifier.verify(f"Bearer {token()}")


def test_only_rs256_signing_keys_of_2048_bits_or_more_are_kept() -> None:
    assert rsa_keys(jwks(rsa.generate_private_key(public_exponent=65537, key_size=1024))) == {}
    encryption = jwks()
    encryption["keys"][0]["use"] = "enc"
    assert rsa_keys(encryption) == {}
    hmac_key = {"keys": [{"kty": "oct", "kid": "k1", "k": b64(b"s" * 32), "alg": "HS256"}]}
    assert rsa_keys(hmac_key) == {}, "a shared secret is never a verification key"
    assert set(rsa_keys(jwks())) == {"k1"}


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({"JWT_ISSUER": ISSUER}, "set all three (bearer-token authentication) or none; JWT_AUDIENCE, JWKS_URL missing"),
        ({"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE}, "JWKS_URL missing"),
        (
            {"JWT_ISSUER": "http://idp", "JWT_AUDIENCE": AUDIENCE, "JWKS_URL": "https://idp/jwks"},
            "JWT_ISSUER='http://idp': expected the tokens' issuer (iss), an https:// URL",
        ),
        (
            {"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE, "JWKS_URL": "http://idp/jwks"},
            "JWKS_URL='http://idp/jwks': expected the issuer's JWKS, an https:// URL",
        ),
    ],
)
def test_the_jwt_settings_are_all_three_or_none(env: dict[str, str], why: str) -> None:
    with pytest.raises(ConfigError, match="invalid configuration") as bad:
        Config.from_env(env)
    assert why in str(bad.value)


def test_the_jwt_settings_turn_authentication_on() -> None:
    assert not Config.from_env({}).auth_required
    config = Config.from_env({"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE, "JWKS_URL": "https://idp/jwks"})
    assert config.auth_required and (config.jwt_issuer, config.jwt_audience) == (ISSUER, AUDIENCE)


# --- the stand-in issuer and the server process ----------------------------------------------


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    body = json.dumps(jwks()).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/.well-known/jwks.json"
    httpd.shutdown()


def test_the_keys_are_read_from_the_issuers_jwks(issuer: str) -> None:
    assert set(fetch_keys(issuer)) == {"k1"}
    with pytest.raises(KeysError, match="cannot fetch the JWKS"):
        fetch_keys(f"http://127.0.0.1:{free_port()}/jwks.json", timeout_s=2)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_default_model(tmp_path_factory.mktemp("model") / "wine.onnx")


@pytest.fixture(scope="module")
def server(issuer: str, model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServerProcess]:
    env = {"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE, "JWKS_URL": issuer, "MAX_IN_FLIGHT": "1"}
    with ModelServerProcess(str(model_path), env, tmp_path_factory.mktemp("server") / "server.log") as srv:
        yield srv


def bearer(value: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {value}"}


def refused(server: ModelServerProcess) -> float:
    """The server's count of 401 answers (read with a valid token)."""
    metrics = server.request("GET", "/metrics", headers=bearer(token()))[2].decode()
    return float(next(ln.split()[1] for ln in metrics.splitlines() if ln.startswith("model_unauthorized_total ")))


@pytest.mark.slow
def test_the_server_refuses_requests_without_a_valid_token_and_serves_those_with_one(
    server: ModelServerProcess,
) -> None:
    body = infer_body([ROW])
    before = refused(server)
    assert server.request("GET", "/v2/health/live")[0] == 200, "probes stay open"
    assert server.request("GET", "/v2/health/ready")[0] == 200, "probes stay open"

    status, headers, answer = server.request("POST", server.infer_path, body, {"Content-Type": "application/json"})
    assert status == 401 and headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert json.loads(answer) == {"error": "missing bearer token"}

    forged = token(key=OTHER)
    status, headers, answer = server.request("POST", server.infer_path, body, bearer(forged))
    assert (status, json.loads(answer)) == (401, {"error": "bad signature"})
    assert forged.encode() not in answer and headers["www-authenticate"] == 'Bearer error="invalid_token"'

    status, _, answer = server.request("POST", server.infer_path, body, bearer(token({"aud": "other"})))
    assert (status, json.loads(answer)) == (401, {"error": "wrong audience"})

    for path in ("/metrics", "/v2", f"/v2/models/{server.model_name}", "/openapi.json"):
        assert server.request("GET", path)[0] == 401, f"{path}: every route but the probes"

    status, _, answer = server.request("POST", server.infer_path, body, bearer(token()))
    assert status == 200 and json.loads(answer)["outputs"][0]["shape"] == [1]
    assert refused(server) - before == 7


@pytest.mark.slow
def test_a_refusal_comes_from_the_headers_before_admission_and_the_body(server: ModelServerProcess) -> None:
    body = infer_body([ROW] * 3)
    held = socket.create_connection((HOST, server.port), timeout=20)  # takes the one in-flight slot
    head = (
        f"POST {server.infer_path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token()}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    held.sendall(head.encode() + body[: len(body) // 2])
    time.sleep(0.3)
    assert server.request("POST", server.infer_path, infer_body([ROW]), bearer(token()))[0] == 503, "the slot is taken"
    assert server.request("POST", server.infer_path, infer_body([ROW]))[0] == 401, "refused, not counted as busy"

    # Headers only, and a body far over the limit announced: the answer needs neither.
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        sock.sendall(f"POST {server.infer_path} HTTP/1.1\r\nHost: x\r\nContent-Length: {10**9}\r\n\r\n".encode())
        assert sock.recv(65536).split()[1] == b"401"

    held.sendall(body[len(body) // 2 :])
    data = b""
    while b"\r\n\r\n" not in data:
        data += held.recv(65536)
    held.close()
    assert data.split()[1] == b"200", "the held request was served"


@pytest.mark.slow
def test_a_jwks_that_cannot_be_read_stops_the_process_at_start(model_path: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/.well-known/jwks.json"
    env = {"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE, "JWKS_URL": url}
    with pytest.raises(RuntimeError, match="exited with 4"):
        ModelServerProcess(str(model_path), env, tmp_path / "server.log").start()
    assert f"cannot start with authentication: cannot fetch the JWKS at {url}" in (tmp_path / "server.log").read_text()
