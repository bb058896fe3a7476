"""A school's deployment in the small internet (tests/support/netlab.py), set up as
docs/deployment.md tells an admin to: on the server the bridge serving HTTPS on 443
(certificate from a CA the test makes), its Janus on the public address and coturn
configured by `salon-bridge turn-config`; the room appliance in the school, trusting
that CA through its provisioning file; Chromium at home, trusting it through its NSS
database."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from cryptography import x509
from playwright.async_api import Browser

from tests.support import coturn, netlab
from tests.support.browser import CHROMIUM, chromium
from tests.support.pki import Issued, TestCA, nss_db_trusting
from tests.support.procs import BIN, Appliance, Proc, appliance_toml, free_port, wait_until

ROOM = "testbim"
BRIDGE_URL = f"https://{netlab.MEET_NAME}"
TURN_URLS = [f"turn:{netlab.TURN_NAME}:3478?transport=udp",
             f"turn:{netlab.TURN_NAME}:3478?transport=tcp",
             f"turns:{netlab.TURN_NAME}:443?transport=tcp"]


def served_serial(ip: str, port: int, ca_pem: bytes) -> int | None:
    """The serial of the certificate a TLS server hands out (None: handshake refused)."""
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((ip, port), timeout=3) as raw, \
            ctx.wrap_socket(raw, server_hostname=netlab.MEET_NAME) as tls:
        der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number if der else None


def https_json(ip: str, path: str, ca_pem: bytes, verify: bool = True) -> Any:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    if not verify:  # the test's own look at a bridge it gave a bad certificate
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection(ip, 443, context=ctx, timeout=3)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


class SchoolServer:
    """The bridge (HTTPS on 443, plain HTTP on 80 redirecting) with its Janus, and coturn
    (UDP/TCP 3478, TLS on 443 of its own address), all on the server node."""

    def __init__(self, lab: netlab.Lab, workdir: Path, ttl_s: int = 3600,
                 reload_check_s: float = 0.2, room: str = ROOM) -> None:
        self.lab, self.node, self.dir = lab, lab["server"], workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.ca = TestCA()
        self.ca_file = self.ca.write(workdir / "ca.pem")
        tls = workdir / "tls"
        tls.mkdir(exist_ok=True)
        self.cert_file, self.key_file = tls / "fullchain.pem", tls / "privkey.pem"
        self.certificate = self.good_certificate()
        self.certificate.write(self.cert_file, self.key_file)
        secret = workdir / "turn-secret"
        secret.write_text(os.urandom(24).hex() + "\n")
        secret.chmod(0o600)
        self.config = workdir / "bridge.toml"
        self.config.write_text(f"""\
state_dir = "{workdir / 'state'}"
log_level = "debug"
[server]
host = "{netlab.SERVER_IP}"
port = 443
public_url = "{BRIDGE_URL}"
[tls]
cert_file = "{self.cert_file}"
key_file = "{self.key_file}"
reload_check_s = {reload_check_s}
http_port = 80
acme_webroot = "{workdir / 'acme'}"
[janus]
media_ip = "{netlab.SERVER_IP}"
[turn]
secret_file = "{secret}"
urls = {json.dumps(TURN_URLS)}
ttl_s = {ttl_s}
listening_ips = ["{netlab.TURN_IP}"]
relay_ip = "{netlab.TURN_IP}"
relay_port_range = "49160-49400"
[[rooms]]
address = "{room}"
title = "Test BİM"
policy = "public"
moderated = false
""")
        self.coturn = coturn.Coturn(coturn.turn_config(self.config, self.node.prefix()),
                                    workdir / "coturn", (netlab.TURN_IP, 3478),
                                    prefix=self.node.prefix())
        self.bridge = Proc([*self.node.prefix(), str(BIN / "salon-bridge"), "--config",
                            str(self.config)], workdir / "bridge.log")
        try:
            self.coturn.wait_ready(lambda: self.node.call(
                socket.create_connection, (netlab.TURN_IP, 3478), 1).close() or True)
            wait_until(lambda: self.health()["janus"][0]["up"], 90, "the bridge and Janus")
        except BaseException:
            print("---- bridge log ----\n" + self.bridge.log_tail())
            self.stop()
            raise

    def good_certificate(self, **dates: Any) -> Issued:
        return self.ca.issue([netlab.MEET_NAME, netlab.TURN_NAME, netlab.SERVER_IP,
                              netlab.TURN_IP], **dates)

    def health(self, verify: bool = True) -> Any:
        return self.node.call(https_json, netlab.SERVER_IP, "/healthz", self.ca.pem, verify)

    def use_certificate(self, issued: Issued) -> None:
        """Replace the certificate files as a renewal does; wait until the bridge serves it."""
        issued.write(self.cert_file, self.key_file)
        self.certificate = issued
        wait_until(lambda: self.node.call(served_serial, netlab.SERVER_IP, 443, self.ca.pem)
                   == issued.serial, 15, "the bridge serving the new certificate")

    def room_url(self, room: str = ROOM) -> str:
        return f"{BRIDGE_URL}/r/{room}"

    def janus_pid(self) -> int:
        return int(self.health()["janus_pid"])

    def stop(self) -> None:
        self.bridge.stop()
        self.coturn.stop()


class LabAppliance(Appliance):
    """``salon-appliance run`` on the school node, simulated devices, trusting the test CA
    through [bridge] ca_file; its /healthz reached through a forwarded port."""

    def __init__(self, lab: netlab.Lab, server: SchoolServer, tmp: Path, name: str,
                 tone_hz: float = 1000.0, mic_signal: str = "tone",
                 size: tuple[int, int] = (1280, 720), nice: int = 0, room: str = ROOM) -> None:
        node = lab["school"]
        self.name = name
        remote_port = free_port()
        self.health_port = node.forward(remote_port)
        self.speaker_wav = tmp / f"{name.replace(' ', '_')}-speaker.wav"
        self.dir = tmp / name.replace(" ", "_")
        self.dir.mkdir(parents=True, exist_ok=True)
        text = appliance_toml(BRIDGE_URL, room, name, remote_port, self.speaker_wav, tone_hz,
                              width=size[0], height=size[1], mic_signal=mic_signal)
        anchor = f'room = "{room}"\n'
        self.config = self.dir / "salon.toml"
        self.config.write_text(text.replace(anchor, anchor + f'ca_file = "{server.ca_file}"\n',
                                            1))
        niced = ["nice", "-n", str(nice)] if nice else []
        Proc.__init__(self, [*node.prefix(), *niced, str(BIN / "salon-appliance"), "run",
                             "--config", str(self.config), "--state-dir",
                             str(self.dir / "state")],
                      self.dir / "appliance.log",
                      env={"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})

    def health_any(self) -> Any:
        """/healthz also while it answers 503 (an error to report is not a failure here)."""
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz",
                                        timeout=3) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())


@asynccontextmanager
async def home_chromium(lab: netlab.Lab, server: SchoolServer, workdir: Path,
                        site: str = "home", **kwargs: Any) -> AsyncIterator[Browser]:
    """Debian's Chromium on the home node (or another ``site``): a wrapper enters its
    namespaces (Playwright talks to the browser over pipes, which cross them), and
    $HOME's NSS database trusts the test CA — the way a Linux desktop trusts a school's
    own CA."""
    home = workdir / site
    nss_db_trusting(server.ca, home)
    wrapper = workdir / f"chromium-at-{site}"
    wrapper.write_text("#!/bin/sh\nexec " + " ".join(lab[site].prefix()) + f' {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "HOME": str(home)}
    async with chromium(executable=str(wrapper), env=env, **kwargs) as browser:
        yield browser
