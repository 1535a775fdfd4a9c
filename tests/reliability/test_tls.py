"""TLS verification is on by default, and really verifies: a self-signed loopback server is refused."""

from __future__ import annotations

import datetime
import http.server
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.blocks import AlfrescoConnection
from connectors.errors import AuthenticationError
from tasks.retry import RetryPolicy
from vocabulary import ErrorCode


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_a_self_signed_server_is_refused_by_default(tmp_path):
    cert, key = self_signed(tmp_path)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = AlfrescoConnection(base_url=f"https://127.0.0.1:{server.server_address[1]}", username="u", password="p")
        assert connection.verify_tls is True
        repository = connection.repository("onprem")
        calls = 0

        async def whoami() -> str:
            nonlocal calls
            calls += 1
            return await repository.whoami()

        try:
            with pytest.raises(AuthenticationError) as caught:
                await RetryPolicy(retries=3, backoff_seconds=0.01).call(whoami, "whoami")
        finally:
            await repository.aclose()
        error = caught.value
        assert error.code is ErrorCode.AUTHENTICATION_ERROR and not error.retryable
        assert calls == 1, "a certificate that does not verify is not retried"
        assert "TLS certificate verification failed" in error.message, error.message
        assert "could not be reached" not in error.message
        assert "CERTIFICATE_VERIFY_FAILED" in repr(error.__context__), repr(error.__context__)
    finally:
        server.shutdown()
