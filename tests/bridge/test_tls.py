"""HTTPS served by the bridge itself: a renewal that replaces the files is picked up for
new connections (a half-written one is refused and the old certificate kept), HSTS on
secure responses only, plain HTTP redirects and answers ACME challenges, and forwarded
headers are believed only from a trusted proxy."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import AsyncIterator
from ipaddress import IPv4Network
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509

from bridge.config import TlsSettings
from bridge.tls import CertificateError, CertificateReloader, hsts_middleware, redirect_app
from bridge.web.proxy import client_address, forwarded_middleware
from tests.support.pki import TestCA


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def served_serial(port: int, ca: TestCA, server_name: str | None = "meet.salon.test") -> int:
    """Handshake with the server (trusting ``ca``) and return its certificate's serial."""
    ctx = ssl.create_default_context(cadata=ca.pem.decode())
    ctx.check_hostname = server_name is not None
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


@pytest.fixture
def ca() -> TestCA:
    return TestCA()


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"remote": request.remote, "scheme": request.scheme,
                              "host": request.host})


async def serve(app: web.Application, port: int, ssl_context: ssl.SSLContext | None = None
                ) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_context).start()
    return runner


@pytest.fixture
async def tls_server(tmp_path: Path, ca: TestCA) -> AsyncIterator[tuple[CertificateReloader,
                                                                        int, Path, Path]]:
    cert, key = ca.issue(["meet.salon.test"]).write(tmp_path / "fullchain.pem",
                                                   tmp_path / "privkey.pem")
    reloader = CertificateReloader(TlsSettings(cert_file=cert, key_file=key,
                                               reload_check_s=0.05))
    app = web.Application(middlewares=[hsts_middleware(600)])
    app.router.add_get("/", hello)
    port = free_port()
    runner = await serve(app, port, reloader.listening)
    reloader.start()
    yield reloader, port, cert, key
    await reloader.stop()
    await runner.cleanup()


async def test_a_renewed_certificate_is_served_to_new_connections(
        tls_server: tuple[CertificateReloader, int, Path, Path], ca: TestCA) -> None:
    reloader, port, cert, key = tls_server
    first = await asyncio.to_thread(served_serial, port, ca)
    # An established connection lives on across the renewal.
    ctx = ssl.create_default_context(cadata=ca.pem.decode())
    async with aiohttp.ClientSession() as http:
        url = f"https://127.0.0.1:{port}/"
        async with http.get(url, ssl=ctx, server_hostname="meet.salon.test") as resp:
            assert resp.status == 200
        renewed = ca.issue(["meet.salon.test"])
        renewed.write(cert, key)
        for _ in range(100):  # the watcher looks every 50 ms
            if reloader.reloads:
                break
            await asyncio.sleep(0.05)
        assert reloader.reloads == 1
        assert await asyncio.to_thread(served_serial, port, ca) == renewed.serial != first
        async with http.get(url, ssl=ctx, server_hostname="meet.salon.test") as resp:
            assert resp.status == 200  # on the kept-alive connection


async def test_a_half_written_renewal_keeps_the_old_certificate(
        tls_server: tuple[CertificateReloader, int, Path, Path], ca: TestCA,
        caplog: pytest.LogCaptureFixture) -> None:
    reloader, port, cert, key = tls_server
    await reloader.stop()  # checks by hand from here
    before = await asyncio.to_thread(served_serial, port, ca)
    new = ca.issue(["meet.salon.test"])
    cert.write_bytes(new.cert_pem)  # the certificate arrived, its key not yet
    with caplog.at_level(logging.WARNING, "salon.tls"):
        assert reloader.check() is False  # a warning: the key may be on its way
        assert reloader.check() is False  # an error: it did not come
    assert [r.levelname for r in caplog.records] == ["WARNING", "ERROR"]
    assert "still serving the previous one" in caplog.text
    assert await asyncio.to_thread(served_serial, port, ca) == before
    key.write_bytes(new.key_pem)  # the key follows: now it is taken
    assert reloader.check() is True
    assert await asyncio.to_thread(served_serial, port, ca) == new.serial


async def test_a_client_without_server_name_gets_the_current_certificate(
        tls_server: tuple[CertificateReloader, int, Path, Path], ca: TestCA) -> None:
    reloader, port, cert, key = tls_server
    await reloader.stop()  # checks by hand from here
    renewed = ca.issue(["meet.salon.test"])
    renewed.write(cert, key)
    assert reloader.check()
    assert await asyncio.to_thread(served_serial, port, ca, None) == renewed.serial


def test_missing_or_mismatched_files_are_named(tmp_path: Path, ca: TestCA) -> None:
    cert, _ = ca.issue(["a.test"]).write(tmp_path / "c.pem", tmp_path / "k.pem")
    with pytest.raises(CertificateError, match=r"key_file .*nope\.pem: No such file"):
        CertificateReloader(TlsSettings(cert_file=cert, key_file=tmp_path / "nope.pem"))
    (tmp_path / "other.pem").write_bytes(ca.issue(["a.test"]).key_pem)
    with pytest.raises(CertificateError, match="not a certificate chain and its key"):
        CertificateReloader(TlsSettings(cert_file=cert, key_file=tmp_path / "other.pem"))


async def test_hsts_only_on_secure_responses(
        tls_server: tuple[CertificateReloader, int, Path, Path], ca: TestCA) -> None:
    _, port, _, _ = tls_server
    ctx = ssl.create_default_context(cadata=ca.pem.decode())
    async with aiohttp.ClientSession() as http:
        async with http.get(f"https://127.0.0.1:{port}/", ssl=ctx,
                            server_hostname="meet.salon.test") as resp:
            assert resp.headers["Strict-Transport-Security"] == "max-age=600"
        async with http.get(f"https://127.0.0.1:{port}/missing", ssl=ctx,
                            server_hostname="meet.salon.test") as resp:
            assert resp.status == 404
            assert resp.headers["Strict-Transport-Security"] == "max-age=600"
    plain = web.Application(middlewares=[hsts_middleware(600)])
    plain.router.add_get("/", hello)
    plain_port = free_port()
    runner = await serve(plain, plain_port)
    try:
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{plain_port}/") as resp:
            assert "Strict-Transport-Security" not in resp.headers
    finally:
        await runner.cleanup()


async def test_plain_http_redirects_and_answers_acme_challenges(tmp_path: Path) -> None:
    challenges = tmp_path / ".well-known" / "acme-challenge"
    challenges.mkdir(parents=True)
    (challenges / "tok_EN-1").write_text("tok_EN-1.thumbprint")
    port = free_port()
    runner = await serve(redirect_app(443, None, tmp_path), port)
    public = await serve(redirect_app(8443, "https://meet.salon.test:8443", tmp_path),
                         port2 := free_port())
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/.well-known/acme-challenge/tok_EN-1"
            async with http.get(url) as resp:
                assert resp.status == 200 and await resp.text() == "tok_EN-1.thumbprint"
            async with http.get(url.replace("tok_EN-1", "..%2f..%2fetc")) as resp:
                assert resp.status == 404
            async with http.get(f"http://127.0.0.1:{port}/r/kurul?x=1", allow_redirects=False,
                                headers={"Host": "meet.salon.test"}) as resp:
                assert resp.status == 301
                assert resp.headers["Location"] == "https://meet.salon.test/r/kurul?x=1"
            async with http.post(f"http://127.0.0.1:{port2}/ws", allow_redirects=False) as resp:
                assert resp.headers["Location"] == "https://meet.salon.test:8443/ws"
    finally:
        await runner.cleanup()
        await public.cleanup()


def test_forwarded_for_is_read_from_the_right_up_to_the_first_untrusted_hop() -> None:
    proxies = [IPv4Network("127.0.0.1/32"), IPv4Network("10.0.0.0/8")]
    assert client_address("127.0.0.1", "203.0.113.5", proxies) == "203.0.113.5"
    # The client wrote the left-most entry itself: it proves nothing.
    assert client_address("127.0.0.1", "6.6.6.6, 203.0.113.5", proxies) == "203.0.113.5"
    assert client_address("127.0.0.1", "203.0.113.5, 10.1.1.1", proxies) == "203.0.113.5"
    assert client_address("198.51.100.1", "203.0.113.5", proxies) == "198.51.100.1"


async def test_forwarded_headers_only_from_a_trusted_proxy() -> None:
    async def app_with(trusted: list[IPv4Network]) -> tuple[web.AppRunner, int]:
        app = web.Application(middlewares=[forwarded_middleware(trusted),
                                           hsts_middleware(600)])
        app.router.add_get("/", hello)
        port = free_port()
        return await serve(app, port), port

    forged = {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https",
              "X-Forwarded-Host": "meet.salon.test"}
    trusting, port_a = await app_with([IPv4Network("127.0.0.1/32")])
    stranger, port_b = await app_with([IPv4Network("10.0.0.0/8")])
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port_a}/", headers=forged) as resp:
                assert await resp.json() == {"remote": "203.0.113.5", "scheme": "https",
                                             "host": "meet.salon.test"}
                assert resp.headers["Strict-Transport-Security"] == "max-age=600"
            async with http.get(f"http://127.0.0.1:{port_b}/", headers=forged) as resp:
                seen = await resp.json()
                assert seen["remote"] == "127.0.0.1" and seen["scheme"] == "http"
                assert "Strict-Transport-Security" not in resp.headers
    finally:
        await trusting.cleanup()
        await stranger.cleanup()
