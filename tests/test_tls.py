"""
Real TLS on loopback: verified connections that come back after server
restarts, and a wrong certificate that is a failed attempt, not a crash.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor, ssl
from twisted.internet.endpoints import SSL4ClientEndpoint

from reconnect_twisted import ConnectionState, ReconnectingService

from .test_integration import LoginServerFactory, makeFactory, stopServer, until

S = ConnectionState

crypto = pytest.importorskip("cryptography")


def selfSigned(name: str) -> tuple[bytes, bytes]:
    """A key and a self-signed certificate for DNS name ``name``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    keyPEM = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return keyPEM, cert.public_bytes(serialization.Encoding.PEM)


def listen(port: int, server: LoginServerFactory, keyPEM: bytes, certPEM: bytes) -> Any:
    certificate = ssl.PrivateCertificate.loadPEM(keyPEM + certPEM)
    return reactor.listenSSL(port, server, certificate.options(), interface="127.0.0.1")


@pytest_twisted.ensureDeferred
async def test_tlsReconnectsAfterRestarts() -> None:
    """When a verified TLS server restarts twice, the client re-handshakes each time."""
    keyPEM, certPEM = selfSigned("localhost")
    server = LoginServerFactory()
    listening = listen(0, server, keyPEM, certPEM)
    port = listening.getHost().port
    options = ssl.optionsForClientTLS(
        "localhost", trustRoot=ssl.Certificate.loadPEM(certPEM)
    )
    factory = makeFactory()
    service = ReconnectingService(
        SSL4ClientEndpoint(reactor, "127.0.0.1", port, options), factory
    )
    service.startService()
    await until(factory, S.CONNECTED)
    for restart in range(2):
        await stopServer(listening, server)
        await until(factory, S.WAITING)
        listening = listen(port, server, keyPEM, certPEM)
        await until(factory, S.CONNECTED)
        assert server.logins == restart + 2
    await service.stopService()
    await stopServer(listening, server)


@pytest_twisted.ensureDeferred
async def test_wrongCertificateIsFailedAttempt() -> None:
    """When the server's certificate is not trusted, the attempt fails clearly."""
    keyPEM, certPEM = selfSigned("localhost")
    _, otherPEM = selfSigned("localhost")
    server = LoginServerFactory()
    listening = listen(0, server, keyPEM, certPEM)
    options = ssl.optionsForClientTLS(
        "localhost", trustRoot=ssl.Certificate.loadPEM(otherPEM)
    )
    factory = makeFactory()
    service = ReconnectingService(
        SSL4ClientEndpoint(reactor, "127.0.0.1", listening.getHost().port, options),
        factory,
    )
    service.startService()
    await until(factory, S.WAITING)
    status = factory.status
    assert status.attempt == 1
    assert status.lastFailure is not None
    assert "certificate verify failed" in str(status.lastFailure.value)
    assert server.logins == 0
    await service.stopService()
    await stopServer(listening, server)
