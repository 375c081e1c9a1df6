"""create_http_client: which transport a client gets (docs/design.md) and that settings
pass through to either transport."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import trustme

from hafs_actors.errors import ConfigError
from hafs_actors.transport import (
    choose_transport,
    create_http_client,
    create_pooled_client,
    environment_proxy_applies,
)

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def clean_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)


def test_explicit_choices() -> None:
    assert choose_transport().kind == "hafs"
    assert choose_transport(transport="httpx").kind == "httpx"
    assert choose_transport(proxy="http://user:pw@proxy:3128").kind == "httpx"
    assert "pw" not in repr(choose_transport(proxy="http://user:pw@proxy:3128"))
    assert choose_transport(http2=True).kind == "httpx"
    with pytest.raises(ConfigError, match="transport"):
        choose_transport(transport="aiohttp")


ENVIRONMENTS: list[tuple[dict[str, str], str, str | None]] = [
    ({"HTTPS_PROXY": "http://p:1"}, "https://api.openai.com/v1", "HTTPS_PROXY"),
    ({"HTTPS_PROXY": "http://p:1"}, "http://127.0.0.1:8000", None),
    ({"http_proxy": "http://p:1"}, "http://127.0.0.1:8000", "HTTP_PROXY"),
    ({"ALL_PROXY": "http://p:1"}, "https://api.anthropic.com", "ALL_PROXY"),
    ({"HTTPS_PROXY": "http://p:1", "ALL_PROXY": "http://q:1"}, "https://a.com", "HTTPS_PROXY"),
    ({"ALL_PROXY": "http://p:1", "NO_PROXY": "*"}, "https://api.openai.com", None),
    ({"ALL_PROXY": "http://p:1", "NO_PROXY": "openai.com"}, "https://api.openai.com", None),
    ({"ALL_PROXY": "http://p:1", "NO_PROXY": "openai.com"}, "https://openai.com", None),
    ({"ALL_PROXY": "http://p:1", "NO_PROXY": "openai.com"}, "https://xopenai.com", "ALL_PROXY"),
    ({"ALL_PROXY": "http://p:1", "NO_PROXY": ".openai.com"}, "https://openai.com", "ALL_PROXY"),
    ({"ALL_PROXY": "http://p:1", "NO_PROXY": ".openai.com"}, "https://api.openai.com", None),
    ({"ALL_PROXY": "http://p:1", "NO_PROXY": "a.com, 127.0.0.1"}, "http://127.0.0.1:80", None),
    ({"ALL_PROXY": "http://p:1", "NO_PROXY": "localhost"}, "http://localhost:11434", None),
    ({"ALL_PROXY": "http://p:1", "NO_PROXY": "::1"}, "http://[::1]:8080", None),
    ({"ALL_PROXY": "http://p:1", "NO_PROXY": "a.com:8443"}, "https://a.com:8443", None),
    ({"ALL_PROXY": "http://p:1", "NO_PROXY": "a.com:8443"}, "https://a.com", "ALL_PROXY"),
    ({"ALL_PROXY": "http://p:1", "NO_PROXY": "http://a.com"}, "http://a.com", None),
    ({"ALL_PROXY": "http://p:1", "NO_PROXY": "http://a.com"}, "https://a.com", "ALL_PROXY"),
    ({"HTTPS_PROXY": "http://p:1"}, "", "HTTPS_PROXY"),
    ({"NO_PROXY": "a.com"}, "", None),
]


@pytest.mark.parametrize(("env", "base_url", "expected"), ENVIRONMENTS)
def test_environment_proxies_follow_httpx(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], base_url: str, expected: str | None
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert environment_proxy_applies(base_url) == expected
    choice = choose_transport(base_url=base_url)
    assert choice.kind == ("hafs" if expected is None else "httpx")
    assert choose_transport(base_url=base_url, trust_env=False).kind == "hafs"
    if base_url:
        # Oracle: httpx's own routing (a private method, used by this test only) agrees.
        client = httpx.AsyncClient()
        default = client._transport
        assert (client._transport_for_url(httpx.URL(base_url)) is not default) == (
            expected is not None
        )


async def test_hafs_client_by_default(kit: SimpleNamespace) -> None:
    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        pooled = create_pooled_client(
            base_url=server.url,
            headers={"x-provider": "test"},
            max_connections=7,
            max_keepalive_connections=3,
        )
        async with pooled.client as client:
            assert (await client.post("/v1/x", content=b"hi")).content == b"hi"
            stats = pooled.statistics()
            assert stats is not None
            assert (stats.max_connections, stats.max_keepalive_connections) == (7, 3)
        assert server.requests[0].header(b"x-provider") == b"test"


async def test_httpx_transport_when_asked(kit: SimpleNamespace, tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        # A CA path is turned into a context: httpx itself deprecates verify=<str>.
        pooled = create_pooled_client(base_url=server.url, transport="httpx", verify=str(ca_file))
        async with pooled.client as client:
            assert (await client.post("/", content=b"stock")).content == b"stock"
            assert pooled.hafs is None
            assert pooled.statistics() is None


async def test_environment_proxy_is_honoured(
    kit: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def proxy(conn: Any) -> None:
        while (request := await conn.read_request()) is not None:
            await conn.respond(b"via proxy " + request.target)

    async with kit.open_server(proxy) as fake_proxy:
        monkeypatch.setenv("HTTP_PROXY", fake_proxy.url)
        pooled = create_pooled_client(base_url="http://upstream.invalid")
        async with pooled.client as client:
            response = await client.get("/v1/models")
            assert response.content == b"via proxy http://upstream.invalid/v1/models"
            assert pooled.hafs is None


async def test_no_proxy_keeps_the_project_transport(
    kit: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would fail if used
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        pooled = create_pooled_client(base_url=server.url)
        async with pooled.client as client:
            assert (await client.post("/", content=b"direct")).content == b"direct"
        assert pooled.hafs is not None


async def test_configured_proxy(kit: SimpleNamespace) -> None:
    async def proxy(conn: Any) -> None:
        while (request := await conn.read_request()) is not None:
            await conn.respond(request.target)

    async with (
        kit.open_server(proxy) as fake_proxy,
        create_http_client(base_url="http://up.invalid", proxy=fake_proxy.url) as client,
    ):
        assert (await client.get("/a")).content == b"http://up.invalid/a"


def test_http2_needs_h2() -> None:
    if importlib.util.find_spec("h2") is None:
        with pytest.raises(ConfigError, match="h2"):
            create_http_client(http2=True)
    else:
        assert create_pooled_client(http2=True).hafs is None


async def test_timeouts_pass_through(kit: SimpleNamespace, autojump_clock: Any) -> None:
    async def silent(conn: Any) -> None:
        await conn.read_request()
        await conn.wait_closed_by_client()

    async with kit.open_server(silent) as server:
        pooled = create_pooled_client(base_url=server.url, timeout=httpx.Timeout(3.0, read=7.0))
        async with pooled.client as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get("/")
            stats = pooled.statistics()
            assert stats is not None
            assert stats.open == 0
