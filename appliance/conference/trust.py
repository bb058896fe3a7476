"""How the room trusts the bridge's certificate: the system's CAs, a school's CA file, or
pinned public keys from the provisioning file ([bridge] ca_file, pin_sha256).

A certificate that cannot be trusted is refused with a reason the screen can say in
the room's language (`REFUSED_KEYS`, translated in appliance/screen/i18n.py) and the
details for the journal. Pins are checked on the connection itself, right after the
handshake and before anything is sent on it.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ssl
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

#: Why a certificate was refused: status keys of the screen's translation table.
REFUSED_KEYS = ("tls_expired", "tls_not_yet_valid", "tls_wrong_host", "tls_untrusted",
                "tls_pin_mismatch")

# OpenSSL's X509_V_ERR_* codes that have a reason of their own.
_EXPIRED, _NOT_YET_VALID = 10, 9
_NAME_MISMATCH = (62, 64)  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH


class CertificateRefused(Exception):
    """The bridge's certificate is not trusted: ``key`` for the screen, ``detail`` for
    the journal."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(detail)
        self.key = key
        self.detail = detail


def client_context(ca_file: str | None, pins: Sequence[str]) -> ssl.SSLContext:
    """The TLS context for the bridge: CA-verified (the system's or ``ca_file``), or,
    with pins and no CA file, the chain left to the pin check."""
    if ca_file is None and pins:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # check_certificate() decides, on the same connection
    else:
        ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def turn_context(ca_file: str | None) -> ssl.SSLContext:
    """TURN over TLS: the system's CAs or the school's CA, and the TURN server's name."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def spki_sha256(cert: x509.Certificate) -> str:
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def check_certificate(der: bytes | None, pins: Sequence[str],
                      now: datetime.datetime | None = None) -> None:
    """The pin check (and, for a pinned certificate no CA vouched for, its dates)."""
    if not pins:
        return
    if der is None:
        raise CertificateRefused("tls_untrusted", "the bridge sent no certificate")
    cert = x509.load_der_x509_certificate(der)
    now = now or datetime.datetime.now(datetime.UTC)
    subject = cert.subject.rfc4514_string()
    if now > cert.not_valid_after_utc:
        raise CertificateRefused("tls_expired", f"certificate {subject} expired on "
                                 f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    if now < cert.not_valid_before_utc:
        raise CertificateRefused("tls_not_yet_valid", f"certificate {subject} is valid from "
                                 f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC; is the "
                                 f"clock right (now {now:%Y-%m-%d %H:%M} UTC)?")
    pin = spki_sha256(cert)
    if pin not in pins:
        raise CertificateRefused("tls_pin_mismatch", f"certificate {subject} has public key "
                                 f"sha256/{pin}, which is not among bridge.pin_sha256")


def explain(error: BaseException, host: str) -> CertificateRefused:
    """A failed verification as the reason the room shows."""
    code = getattr(error, "verify_code", None)
    message = getattr(error, "verify_message", None) or str(error)
    if code == _EXPIRED:
        key = "tls_expired"
    elif code == _NOT_YET_VALID:
        key = "tls_not_yet_valid"
    elif code in _NAME_MISMATCH:
        key = "tls_wrong_host"
    else:
        key = "tls_untrusted"
    return CertificateRefused(key, f"{host}: {message}")
