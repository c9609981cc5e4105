"""Buyers over https, against real TLS servers on loopback whose certificates come from a test CA
(`trustme`): what pingtree trusts, what it refuses, and what the trace says.

- A buyer whose certificate chains to no CA pingtree trusts (a private CA, or a self-signed
  certificate) is refused at the handshake: `http_error`, detail "TLS certificate refused:
  unable to get local issuer certificate" (or "self-signed certificate"); the honest buyer wins.
- `tls: {ca_file: PATH}` on a buyer's ping or post trusts that PEM bundle *instead of* the system
  store for that endpoint: its certificate is accepted (a self-signed certificate is its own
  bundle); one from another CA is refused, and so is a certificate of the right CA for another
  host name ("IP address mismatch"). The host name is always checked; there is no
  `verify: false`.
- Connections are pooled per trust: a connection verified under a buyer's CA is never handed to a
  call that trusts only the system store (nor the reverse), so changing a buyer's CA takes effect
  on its next call.
- The file is read at load: missing, not text, or holding no certificate stops the load, with
  its path; `tls` on an endpoint without an https URL is refused too.
"""

from __future__ import annotations

import ipaddress
import ssl
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pingtree.config import parse_config
from pingtree.config.models import TLS
from pingtree.core.errors import BuyerHTTPError, ConfigError
from pingtree.transport.client import HttpTransport, Request
from tests.buyers import BuyerServer
from tests.conftest import ADMIN_TOKEN, config_dict, make_buyer, make_config, sample


class HttpsBuyers(BuyerServer):
    """The scripted buyers of tests/buyers.py, served over TLS with `context`."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self._context = context
        self._server = TestServer(self._server.app, host="127.0.0.1")

    async def start(self) -> None:
        await self._server.start_server(ssl=self._context)
        assert self.url("x", "ping").startswith("https://")


def _server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "buyer-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
async def https_buyers(ca: trustme.CA) -> AsyncIterator[HttpsBuyers]:
    server = HttpsBuyers(_server_context(ca, "127.0.0.1", "localhost"))
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def transport() -> AsyncIterator[HttpTransport]:
    made = HttpTransport()
    await made.start()
    yield made
    await made.close()


# buyers.yaml -----------------------------------------------------------------------------------


def _secure_buyer(tls: dict[str, Any], url: str = "https://buyer.example/ping") -> dict[str, Any]:
    return make_buyer("secure", None, ping={"url": url, "tls": tls})


def test_ca_file_is_read_at_load(ca: trustme.CA, ca_file: Path) -> None:
    config = parse_config(config_dict([_secure_buyer({"ca_file": str(ca_file)})]), env={})
    ping = config.buyers[0].ping
    assert ping is not None and ping.tls is not None
    assert ping.tls.ca_file == ca_file
    assert ping.tls.ca_pem == ca.cert_pem.bytes().decode()
    assert config.buyers[0].post.tls is None  # each endpoint has its own


@pytest.mark.parametrize(
    ("content", "url", "message"),
    [
        (None, "https://buyer.example/ping", "No such file or directory"),
        (b"", "https://buyer.example/ping", "holds no PEM certificate"),
        (b"not a certificate", "https://buyer.example/ping", "holds no PEM certificate"),
        (b"\xff\xfe\x00binary", "https://buyer.example/ping", "not a PEM file"),
        (
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
            "https://buyer.example/ping",
            "not a valid PEM CA bundle",
        ),
        ("ca", "http://buyer.example/ping", "tls applies to https URLs"),
    ],
    ids=["missing", "empty", "not-pem", "binary", "broken-certificate", "http-url"],
)
def test_a_ca_file_that_cannot_serve_stops_the_load(
    tmp_path: Path, ca_file: Path, content: bytes | str | None, url: str, message: str
) -> None:
    path = tmp_path / "given.pem"
    if content == "ca":
        path = ca_file
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(ConfigError) as refused:
        parse_config(config_dict([_secure_buyer({"ca_file": str(path)}, url)]), env={})
    [(where, said)] = refused.value.errors
    assert where.startswith("buyers[0:secure].ping")
    assert message in said


# the transport ---------------------------------------------------------------------------------


async def test_an_unknown_ca_is_refused_with_the_reason(
    https_buyers: HttpsBuyers, transport: HttpTransport
) -> None:
    with pytest.raises(BuyerHTTPError) as refused:
        await transport.post(https_buyers.url("x", "ping"), b"{}", timeout_s=2, max_bytes=4096)
    assert refused.value.detail == (
        "TLS certificate refused: unable to get local issuer certificate"
    )
    assert https_buyers.recorded("x").pings == []  # not a byte of the ping went out


async def test_the_configured_ca_is_trusted_for_its_endpoint(
    https_buyers: HttpsBuyers, transport: HttpTransport, ca_file: Path
) -> None:
    tls = TLS(ca_file=ca_file)
    url = https_buyers.url("x", "ping")
    answer = await transport.post(url, b'{"a": 1}', timeout_s=2, max_bytes=4096, tls=tls)
    assert answer.status == 200 and b'"accepted":true' in answer.body
    dialect = Request("POST", url, (("Content-Type", "application/json"),), b'{"b": 2}')
    answer = await transport.send(dialect, timeout_s=2, max_bytes=4096, tls=tls)
    assert answer.status == 200
    assert https_buyers.recorded("x").pings == [{"a": 1}, {"b": 2}]


async def test_a_self_signed_certificate_is_refused_unless_it_is_the_configured_bundle(
    transport: HttpTransport, tmp_path: Path
) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server = HttpsBuyers(context)
    await server.start()
    try:
        url = server.url("x", "ping")
        with pytest.raises(
            BuyerHTTPError, match="TLS certificate refused: self-signed certificate"
        ):
            await transport.post(url, b"{}", timeout_s=2, max_bytes=4096)
        tls = TLS(ca_file=cert_file)
        assert (
            await transport.post(url, b"{}", timeout_s=2, max_bytes=4096, tls=tls)
        ).status == 200
    finally:
        await server.close()


def _self_signed(where: Path) -> tuple[Path, Path]:
    """A buyer's own certificate for 127.0.0.1, signed by its own key: (cert, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "buyer.local")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = where / "self-signed.pem", where / "self-signed.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_another_cas_bundle_is_not_enough(
    https_buyers: HttpsBuyers, transport: HttpTransport, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    with pytest.raises(BuyerHTTPError, match="unable to get local issuer certificate"):
        await transport.post(
            https_buyers.url("x", "ping"),
            b"{}",
            timeout_s=2,
            max_bytes=4096,
            tls=TLS(ca_file=other),
        )


async def test_the_host_name_is_checked_even_with_the_right_ca(
    ca: trustme.CA, ca_file: Path, transport: HttpTransport
) -> None:
    server = HttpsBuyers(_server_context(ca, "buyer.example"))  # not 127.0.0.1
    await server.start()
    try:
        with pytest.raises(BuyerHTTPError, match="IP address mismatch"):
            await transport.post(
                server.url("x", "ping"),
                b"{}",
                timeout_s=2,
                max_bytes=4096,
                tls=TLS(ca_file=ca_file),
            )
    finally:
        await server.close()


async def test_a_connection_verified_under_one_trust_is_never_reused_under_another(
    https_buyers: HttpsBuyers, transport: HttpTransport, ca_file: Path
) -> None:
    url, tls = https_buyers.url("x", "ping"), TLS(ca_file=ca_file)
    for _ in range(2):  # the second call reuses the first one's connection: same trust
        await transport.post(url, b"{}", timeout_s=2, max_bytes=4096, tls=tls)
    with pytest.raises(BuyerHTTPError, match="TLS certificate refused"):
        await transport.post(url, b"{}", timeout_s=2, max_bytes=4096)  # system store only
    # The same bundle read again (a reload) finds the same trust, and its pooled connection.
    again = TLS(ca_file=ca_file)
    assert (await transport.post(url, b"{}", timeout_s=2, max_bytes=4096, tls=again)).status == 200
    assert len(https_buyers.recorded("x").pings) == 3


# through the router ----------------------------------------------------------------------------


def _lead() -> dict[str, Any]:
    return {**sample("mva-legal"), "lead_id": f"tls-{uuid.uuid4().hex[:12]}"}


def _https_buyer(https_buyers: HttpsBuyers, ca_file: Path | None) -> dict[str, Any]:
    entry = make_buyer("secure", https_buyers)
    if ca_file is not None:
        entry["ping"]["tls"] = {"ca_file": str(ca_file)}
        entry["post"]["tls"] = {"ca_file": str(ca_file)}
    return entry


async def test_an_https_buyer_on_an_unknown_ca_loses_the_lead(
    buyers: BuyerServer, https_buyers: HttpsBuyers, start_router: Any
) -> None:
    buyers.set("honest", bid=20)
    https_buyers.set("secure", bid=99)
    config = make_config([_https_buyer(https_buyers, None), make_buyer("honest", buyers)])
    router = await start_router(config)

    status, answer, _ = await router.send(_lead())

    assert status == 200 and answer["status"] == "sold"
    view = await router.admin(answer["id"])
    assert view["buyer_id"] == "honest"
    [event] = [e for e in view["trace"] if e["buyer_id"] == "secure"]
    assert (event["step"], event["result"], event["reason"]) == ("ping", "failed", "http_error")
    assert event["detail"] == "TLS certificate refused: unable to get local issuer certificate"
    assert https_buyers.recorded("secure").pings == []


async def test_an_https_buyer_whose_ca_is_configured_sells(
    buyers: BuyerServer, https_buyers: HttpsBuyers, start_router: Any, ca_file: Path
) -> None:
    buyers.set("honest", bid=20)
    https_buyers.set("secure", bid=99)
    config = make_config([_https_buyer(https_buyers, ca_file), make_buyer("honest", buyers)])
    router = await start_router(config)

    status, answer, _ = await router.send(_lead())

    assert status == 200 and answer["status"] == "sold"
    view = await router.admin(answer["id"])
    assert view["buyer_id"] == "secure" and view["price"] == 99
    assert len(https_buyers.recorded("secure").posts) == 1


async def test_a_reload_that_names_the_ca_lets_the_buyer_in(
    buyers: BuyerServer,
    https_buyers: HttpsBuyers,
    start_router: Any,
    ca_file: Path,
    tmp_path: Path,
) -> None:
    buyers.set("honest", bid=20)
    https_buyers.set("secure", bid=99)
    path = tmp_path / "buyers.yaml"
    honest = make_buyer("honest", buyers)
    path.write_text(yaml.safe_dump(config_dict([_https_buyer(https_buyers, None), honest])))
    router = await start_router(parse_config(yaml.safe_load(path.read_text())), config_path=path)
    _, before, _ = await router.send(_lead())
    assert (await router.admin(before["id"]))["buyer_id"] == "honest"

    path.write_text(yaml.safe_dump(config_dict([_https_buyer(https_buyers, ca_file), honest])))
    async with router.session.post(
        router.url("/admin/reload"), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as r:
        assert r.status == 200, await r.text()
    _, after, _ = await router.send(_lead())
    assert (await router.admin(after["id"]))["buyer_id"] == "secure"
