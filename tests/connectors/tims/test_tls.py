"""TLS per connection (README "Base URL and TLS"): verification always on, an optional CA
bundle (a path or PEM text) trusted instead of the system store; every bad setting or failed
handshake is a ConnectorError that names the problem. The handshakes are real: a local server
wrapped in ``ssl`` with certificates made here with ``cryptography``."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.base import ConnectionSettings, ConnectorError, InMemoryTokenStore, MemoryCallRecorder, ReauthorizationRequired
from connectors.tims import connect, tls_verify
from tests.connectors.tims.fakes import CLIENT_ID, CLIENT_SECRET, example


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(ca_key, ca_cert: x509.Certificate, *, host: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class TinyTims(BaseHTTPRequestHandler):
    """Just enough of the contract for one token and one page of customers."""

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (("RateLimit-Limit", "120"), ("RateLimit-Remaining", "119"), ("RateLimit-Reset", "60")):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer(200, {"access_token": "tims_at_tls", "token_type": "Bearer", "expires_in": 3600, "scope": "customers:read"})

    def do_GET(self) -> None:  # noqa: N802
        self._answer(200, {"data": [example("Customer")], "next_cursor": None})

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    ca_key, ca_cert = make_ca("Acme Plant Private CA")
    server_key, server_cert = make_server_cert(ca_key, ca_cert, host="127.0.0.1")
    _, other_ca = make_ca("Some Other CA")
    folder = tmp_path_factory.mktemp("pki")
    (folder / "server.pem").write_text(pem(server_cert))
    (folder / "server.key").write_bytes(
        server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (folder / "ca.pem").write_text(pem(ca_cert))
    (folder / "other-ca.pem").write_text(pem(other_ca))
    return folder


@pytest.fixture(scope="module")
def server(pki):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), TinyTims)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def settings(base_url: str = "https://127.0.0.1:1", **options) -> ConnectionSettings:
    return ConnectionSettings(
        system="tims", base_url=base_url, credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, options=options
    )


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"a TLS failure must not be retried (asked to sleep {seconds} s)")


# --- Settings refused before any connection ------------------------------------------------------


def test_a_ca_bundle_path_that_does_not_exist_is_named(tmp_path):
    missing = tmp_path / "nowhere" / "ca.pem"
    with pytest.raises(ConnectorError) as caught:
        connect(settings(ca_bundle=str(missing)), token_store=InMemoryTokenStore())
    assert caught.value.code == "ca_bundle_missing"
    assert str(missing) in caught.value.message and "does not exist" in caught.value.message


def test_a_ca_bundle_file_with_garbage_is_named(tmp_path):
    garbage = tmp_path / "ca.pem"
    garbage.write_text("this is not a certificate\n")
    with pytest.raises(ConnectorError) as caught:
        connect(settings(ca_bundle=str(garbage)), token_store=InMemoryTokenStore())
    assert caught.value.code == "ca_bundle_invalid" and "holds no PEM certificate" in caught.value.message


def test_a_ca_bundle_with_a_broken_certificate_is_named(tmp_path):
    broken = tmp_path / "ca.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConnectorError) as caught:
        connect(settings(ca_bundle=str(broken)), token_store=InMemoryTokenStore())
    assert caught.value.code == "ca_bundle_invalid" and "invalid certificate" in caught.value.message


def test_binary_and_directory_bundles_are_named(tmp_path):
    binary = tmp_path / "ca.der"
    binary.write_bytes(b"\x30\x82\x01\xff\xfe")
    with pytest.raises(ConnectorError, match="binary data"):
        tls_verify(settings(ca_bundle=str(binary)))
    with pytest.raises(ConnectorError, match="is a directory"):
        tls_verify(settings(ca_bundle=str(tmp_path)))


def test_verification_cannot_be_switched_off():
    with pytest.raises(ConnectorError) as caught:
        connect(settings(verify_tls=False), token_store=InMemoryTokenStore())
    assert caught.value.code == "tls_verification_required" and "CA bundle" in caught.value.message


def test_no_bundle_means_the_system_store():
    assert tls_verify(settings()) is True


# --- Real handshakes -------------------------------------------------------------------------------


def test_a_private_ca_certificate_without_its_bundle_fails_clearly_and_is_not_retried(server):
    recorder = MemoryCallRecorder()
    client = connect(settings(server), token_store=InMemoryTokenStore(), recorder=recorder, sleep=no_sleep)
    with pytest.raises(ReauthorizationRequired) as caught:
        list(client.list_customers())
    assert caught.value.code == "tls_verification_failed"
    message = caught.value.message
    assert "TLS certificate verification failed for 127.0.0.1" in message and "CA bundle" in message
    assert "certificate" in message.lower() and "Traceback" not in message
    assert len(recorder.calls) == 1 and recorder.calls[0].error_class == "auth"  # one attempt, logged


def test_the_connections_ca_bundle_as_a_file_is_trusted(server, pki):
    client = connect(settings(server, ca_bundle=str(pki / "ca.pem")), token_store=InMemoryTokenStore(), sleep=no_sleep)
    assert [c.name for c in client.list_customers()] == ["Northern Welding Supplies Ltd"]


def test_the_connections_ca_bundle_as_pem_text_is_trusted(server, pki):
    client = connect(settings(server, ca_bundle=(pki / "ca.pem").read_text()), token_store=InMemoryTokenStore(), sleep=no_sleep)
    assert len(list(client.list_customers())) == 1


def test_the_ca_bundle_may_also_live_in_the_encrypted_credentials(server, pki):
    base = settings(server)
    stored = ConnectionSettings(system="tims", base_url=server, credentials={**base.credentials, "ca_bundle": (pki / "ca.pem").read_text()})
    assert len(list(connect(stored, token_store=InMemoryTokenStore(), sleep=no_sleep).list_customers())) == 1


def test_a_bundle_of_another_ca_replaces_the_system_store_and_fails(server, pki):
    client = connect(settings(server, ca_bundle=str(pki / "other-ca.pem")), token_store=InMemoryTokenStore(), sleep=no_sleep)
    with pytest.raises(ReauthorizationRequired, match="TLS certificate verification failed"):
        client.check()


def test_a_host_name_the_certificate_does_not_name_fails(server, pki):
    # The certificate names 127.0.0.1; reached as "localhost" the name check must refuse it.
    port = server.rsplit(":", 1)[1]
    client = connect(settings(f"https://localhost:{port}", ca_bundle=str(pki / "ca.pem")), token_store=InMemoryTokenStore(), sleep=no_sleep)
    with pytest.raises(ReauthorizationRequired) as caught:
        list(client.list_customers())
    assert "localhost" in caught.value.message and "match" in caught.value.message.lower()

