"""HTTPS for real over loopback with trustme certificates: verification, SNI, ALPN, reuse."""

from __future__ import annotations

import ssl
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import trustme

from hafs_actors.errors import ConfigError
from hafs_actors.transport import HafsTransport, create_ssl_context


def echo_server(kit: SimpleNamespace, context: ssl.SSLContext) -> Any:
    return kit.open_server(lambda c: kit.keep_alive(c, kit.echo), ssl_context=context)


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


async def test_https_with_the_test_ca(
    kit: SimpleNamespace, server_ssl_context: ssl.SSLContext, ca_file: str
) -> None:
    async with echo_server(kit, server_ssl_context) as server:
        transport = HafsTransport(verify=ca_file)
        async with httpx.AsyncClient(base_url=server.url, transport=transport) as client:
            for i in range(3):
                assert (
                    await client.post("/", content=b"secret %d" % i)
                ).content == b"secret %d" % i
            assert transport.statistics().connections_opened == 1
        assert server.alpn == ["http/1.1"]


async def test_https_with_an_ssl_context(
    kit: SimpleNamespace, server_ssl_context: ssl.SSLContext, ca: trustme.CA, sni_seen: list[Any]
) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with echo_server(kit, server_ssl_context) as server:
        url = f"https://localhost:{server.port}"
        async with httpx.AsyncClient(transport=HafsTransport(verify=context)) as client:
            assert (await client.get(url)).status_code == 200
    assert sni_seen == ["localhost"]


async def test_verification_is_on_by_default(
    kit: SimpleNamespace, server_ssl_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    async with echo_server(kit, server_ssl_context) as server:
        transport = HafsTransport()
        async with httpx.AsyncClient(base_url=server.url, transport=transport) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get("/")
            assert transport.statistics().open == 0


async def test_hostname_mismatch_fails(kit: SimpleNamespace, ca: trustme.CA, ca_file: str) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("api.example.com").configure_cert(context)
    async with (
        echo_server(kit, context) as server,
        httpx.AsyncClient(transport=HafsTransport(verify=ca_file)) as client,
    ):
        with pytest.raises(httpx.ConnectError, match=r"match|mismatch"):
            await client.get(server.url)


async def test_verify_false_skips_verification(
    kit: SimpleNamespace, server_ssl_context: ssl.SSLContext
) -> None:
    async with (
        echo_server(kit, server_ssl_context) as server,
        httpx.AsyncClient(transport=HafsTransport(verify=False)) as client,
    ):
        assert (await client.post(server.url, content=b"x")).content == b"x"


async def test_stale_tls_connection_is_replaced(
    kit: SimpleNamespace, server_ssl_context: ssl.SSLContext, ca_file: str
) -> None:
    async def handler(conn: Any) -> None:
        if conn.index == 0:
            await conn.send(kit.echo(await conn.read_request()))
            return  # closes (close_notify + FIN) while the client keeps the connection idle
        await kit.keep_alive(conn, kit.echo)

    async with kit.open_server(handler, ssl_context=server_ssl_context) as server:
        transport = HafsTransport(verify=ca_file)
        async with httpx.AsyncClient(base_url=server.url, transport=transport) as client:
            await client.get("/")
            await kit.wait_until(lambda: server.finished == 1)
            assert (await client.post("/", content=b"again")).content == b"again"
            assert transport.statistics().stale_discarded == 1


def test_ssl_context_options(ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    context = create_ssl_context(ca_file)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    unverified = create_ssl_context(False)
    assert unverified.verify_mode is ssl.CERT_NONE
    mine = ssl.create_default_context()
    assert create_ssl_context(mine) is mine
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    assert len(create_ssl_context(True).get_ca_certs()) == 1  # the trustme CA only
    with pytest.raises(ConfigError, match=r"verify.*cannot load CA certificates"):
        create_ssl_context("/nonexistent/ca.pem")
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/env.pem")
    with pytest.raises(ConfigError, match="SSL_CERT_FILE"):
        create_ssl_context(True)
    assert create_ssl_context(True, trust_env=False).verify_mode is ssl.CERT_REQUIRED
