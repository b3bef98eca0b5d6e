"""A public model server refuses requests without a valid bearer JWT and serves those with one.

The enforcement point is the server (``handlers/model_server/model_server/auth.py``): the
WAF only refuses requests with no ``Authorization: Bearer`` at all. Tokens are signed here
with a throwaway RSA key whose JWKS a stand-in issuer serves on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from model_server.auth import AuthError, JwtVerifier, rsa_keys

from tools.harness.model_server_process import ModelServerProcess, train_default_model
from tools.harness.moto_server import HOST

ISSUER, AUDIENCE = "https://idp.example.com/tenant", "models"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwks(key: rsa.RSAPrivateKey = KEY, kid: str = "k1") -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    return {"keys": [{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(numbers.n.to_bytes(size, "big")),
                      "e": b64(numbers.e.to_bytes(3, "big"))}]}  # fmt: skip


def token(claims: dict[str, Any] | None = None, key: rsa.RSAPrivateKey = KEY, alg: str = "RS256") -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "client-1", "iat": now, "exp": now + 300, **(claims or {})}
    head = b64(json.dumps({"alg": alg, "kid": "k1", "typ": "JWT"}).encode())
    signed = f"{head}.{b64(json.dumps(body).encode())}"
    signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signed}.{b64(signature)}"


VERIFIER = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, keys=rsa_keys(jwks()))


def test_a_valid_token_is_accepted() -> None:
    assert VERIFIER.verify(f"Bearer {token()}")["sub"] == "client-1"
    assert VERIFIER.verify(f"bearer {token({'aud': ['other', AUDIENCE]})}")["sub"] == "client-1"


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "missing"),
        ("Basic dXNlcjpwYXNz", "missing"),
        ("Bearer abc.def", "malformed"),
        (f"Bearer {token(key=OTHER)}", "bad signature"),
        (f"Bearer {token({'iss': 'https://evil.example.com'})}", "wrong issuer"),
        (f"Bearer {token({'aud': 'other'})}", "wrong audience"),
        (f"Bearer {token({'exp': int(time.time()) - 3600})}", "expired"),
        (f"Bearer {token({'nbf': int(time.time()) + 3600})}", "not valid yet"),
        (f"Bearer {token(alg='HS256')}", "only RS256"),
        (f"Bearer {token().rsplit('.', 1)[0]}.", "bad signature"),
    ],
)
def test_an_unauthenticated_request_is_refused_with_the_reason(header: str | None, why: str) -> None:
    with pytest.raises(AuthError, match=why):
        VERIFIER.verify(header)


def test_a_token_with_a_tampered_payload_is_refused() -> None:
    head, _, signature = token().split(".")
    forged = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "admin", "exp": int(time.time()) + 300}).encode())
    with pytest.raises(AuthError, match="bad signature"):
        VERIFIER.verify(f"Bearer {head}.{forged}.{signature}")


def test_keys_shorter_than_2048_bits_are_ignored() -> None:
    assert rsa_keys(jwks(rsa.generate_private_key(public_exponent=65537, key_size=1024))) == {}


# --- the server process ----------------------------------------------------------------------


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


def request(port: int, path: str, authorization: str | None = None) -> int:
    body = json.dumps({"instances": [[0.0] * 13]}).encode() if path == "/predict" else b""
    method = "POST" if body else "GET"
    auth = f"Authorization: {authorization}\r\n" if authorization else ""
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split()[1])


@pytest.mark.slow
def test_the_server_refuses_requests_without_a_valid_token_and_serves_those_with_one(
    issuer: str, tmp_path: Path
) -> None:
    model = train_default_model(tmp_path / "model.json")
    env = {"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE, "JWKS_URL": issuer}
    with ModelServerProcess(str(model), env, tmp_path / "server.log") as server:
        port = server.port
        assert request(port, "/health") == 200 and request(port, "/ready") == 200, "probes stay open"
        assert request(port, "/predict") == 401
        assert request(port, "/predict", f"Bearer {token(key=OTHER)}") == 401
        assert request(port, "/metrics") == 401, "every route but the probes"
        assert request(port, "/predict", f"Bearer {token()}") == 200
