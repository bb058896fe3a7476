"""HTTPS served by the bridge itself: the certificate and key files re-read when a
renewal replaces them, HSTS on every secure response, and a plain-HTTP listener that
only redirects and answers ACME http-01 challenges (certbot --webroot).

Reloading swaps whole contexts: a new SSLContext is built from the files and, only if
it loads (a chain and a key that match), becomes the one new connections get; the
listening socket's context hands every handshake to the current one from its SNI
callback. A half-written renewal (new certificate, old key) is refused, logged, and the
old certificate keeps being served until the files are right.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bridge.config import BridgeConfigError, TlsSettings

log = logging.getLogger("salon.tls")
FIRST_CERTIFICATE_CHECK_S = 2.0  # a new server waiting for certbot looks this often


class CertificateError(BridgeConfigError):
    pass


def _server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    for what, path in (("cert_file", cert_file), ("key_file", key_file)):
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise CertificateError(f"[tls] {what} {path}: {exc.strerror}") from None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as exc:
        raise CertificateError(
            f"[tls] {cert_file} and {key_file}: not a certificate chain and its key "
            f"({exc})") from None
    return ctx


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class CertificateReloader:
    """The listening context and the certificate behind it, kept current."""

    def __init__(self, settings: TlsSettings) -> None:
        self.settings = settings
        self.current = _server_context(settings.cert_file, settings.key_file)
        self._stamps = self._read_stamps()
        self._failed: tuple[object, object] | None = None
        self.reloads = 0
        self.listening = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.listening.minimum_version = ssl.TLSVersion.TLSv1_2
        # Every handshake starts here and moves to the current context at once (the
        # callback runs whether or not the client sent a server name).
        self.listening.load_cert_chain(settings.cert_file, settings.key_file)
        self.listening.sni_callback = self._choose
        self._task: asyncio.Task[None] | None = None

    def _choose(self, ssl_object: ssl.SSLObject, _name: str | None,
                _ctx: ssl.SSLContext) -> None:
        ssl_object.context = self.current

    def _read_stamps(self) -> tuple[object, object]:
        return _stamp(self.settings.cert_file), _stamp(self.settings.key_file)

    def check(self) -> bool:
        """Load the files again if they changed; True when a new certificate is in use."""
        stamps = self._read_stamps()
        if stamps == self._stamps:
            return False
        try:
            fresh = _server_context(self.settings.cert_file, self.settings.key_file)
        except CertificateError as exc:
            # Keep the old one and look again at the next check: a renewal may be half-way
            # (one file replaced, not yet the other). Still wrong then: an admin's problem.
            again = self._failed == stamps
            self._failed = stamps
            log.log(logging.ERROR if again else logging.WARNING,
                    "certificate not reloaded, still serving the previous one: %s", exc,
                    extra={"EVENT": "tls-reload-failed"})
            return False
        self.current, self._stamps = fresh, stamps
        self.reloads += 1
        log.info("certificate reloaded from %s", self.settings.cert_file,
                 extra={"EVENT": "tls-reloaded"})
        return True

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reload_check_s)
            self.check()

    def start(self) -> None:
        self._task = asyncio.create_task(self.watch(), name="tls-reload")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def hsts_middleware(max_age_s: int) -> Middleware:
    """Strict-Transport-Security on every response to a secure request (directly over
    TLS, or from a trusted proxy that says it was)."""
    value = f"max-age={max_age_s}"

    @web.middleware
    async def hsts(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if request.secure and max_age_s:
                exc.headers["Strict-Transport-Security"] = value
            raise
        if request.secure and max_age_s and not response.prepared:
            response.headers["Strict-Transport-Security"] = value
        return response

    return hsts


def redirect_app(https_port: int, public_url: str | None, acme_webroot: Path | None
                 ) -> web.Application:
    """Plain HTTP: ACME http-01 challenges from the webroot, everything else to https."""
    app = web.Application()

    async def challenge(request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if acme_webroot is None or not token.replace("-", "").replace("_", "").isalnum():
            raise web.HTTPNotFound()
        path = acme_webroot / ".well-known" / "acme-challenge" / token
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": "text/plain"})

    async def to_https(request: web.Request) -> web.StreamResponse:
        if public_url:
            target = public_url.rstrip("/") + request.path_qs
        else:
            url = request.url.with_scheme("https")
            target = str(url.with_port(None if https_port == 443 else https_port))
        raise web.HTTPMovedPermanently(target)

    app.router.add_get("/.well-known/acme-challenge/{token}", challenge)
    app.router.add_route("*", "/{tail:.*}", to_https)
    return app


async def certificate_when_ready(settings: TlsSettings) -> CertificateReloader:
    """The certificate, once its files are there and fit: a new server waits for its
    first one (certbot --webroot can fetch it meanwhile through the plain listener)."""
    said = ""
    while True:
        try:
            return CertificateReloader(settings)
        except CertificateError as exc:
            if str(exc) != said:
                log.error("no HTTPS until the certificate is there: %s", exc,
                          extra={"EVENT": "tls-waiting"})
                said = str(exc)
            await asyncio.sleep(min(settings.reload_check_s, FIRST_CERTIFICATE_CHECK_S))


async def serve_https(make_site: Callable[[ssl.SSLContext], web.BaseSite], host: str, port: int,
                      public_url: str | None, settings: TlsSettings) -> None:
    """Serve the site ``make_site`` builds around a TLS context over HTTPS (and the
    plain-HTTP redirect) until cancelled."""
    plain: web.AppRunner | None = None
    if settings.http_port is not None:
        plain = web.AppRunner(redirect_app(port, public_url, settings.acme_webroot),
                              handle_signals=False)
        await plain.setup()
        await web.TCPSite(plain, host, settings.http_port).start()
    try:
        reloader = await certificate_when_ready(settings)
        try:
            await make_site(reloader.listening).start()
            log.info("bridge listening on https://%s:%s/", host, port,
                     extra={"EVENT": "listening"})
            reloader.start()
            with contextlib.suppress(NotImplementedError, RuntimeError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reloader.check)
            await asyncio.Event().wait()
        finally:
            await reloader.stop()
    finally:
        if plain is not None:
            await plain.cleanup()
