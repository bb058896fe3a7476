"""A test certificate authority made by the test itself (the `cryptography` package):
server certificates for names and addresses, valid, expired or not yet valid, and the
SPKI pins and NSS database that clients trust them with."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def spki_sha256(cert_pem: bytes) -> str:
    """base64(sha256(SubjectPublicKeyInfo)): the pin form of HPKP, Chromium and curl."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@dataclass
class Issued:
    cert_pem: bytes  # the leaf, then the CA (a full chain, as certbot's fullchain.pem)
    key_pem: bytes

    def write(self, cert_file: Path, key_file: Path) -> tuple[Path, Path]:
        """Write both files, replacing old ones atomically (as a renewal does)."""
        for path, data in ((cert_file, self.cert_pem), (key_file, self.key_pem)):
            tmp = path.with_name(path.name + ".new")
            tmp.write_bytes(data)
            tmp.chmod(0o600)
            tmp.replace(path)
        return cert_file, key_file

    @property
    def leaf_pem(self) -> bytes:
        end = b"-----END CERTIFICATE-----\n"
        return self.cert_pem[: self.cert_pem.index(end) + len(end)]

    @property
    def serial(self) -> int:
        return x509.load_pem_x509_certificate(self.leaf_pem).serial_number


class TestCA:
    """A CA with its own key; ``issue`` signs server certificates."""

    __test__ = False  # not a pytest test class

    def __init__(self, name: str = "Salon Test CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = (
            x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY).not_valid_after(NOW + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, path: Path) -> Path:
        path.write_bytes(self.pem)
        return path

    def issue(self, names: list[str], *, valid_from: datetime.datetime | None = None,
              valid_to: datetime.datetime | None = None,
              key: ec.EllipticCurvePrivateKey | None = None) -> Issued:
        """A server certificate for DNS names and IP addresses (both as SANs)."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = []
        for n in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        cert = (
            x509.CertificateBuilder().subject_name(_name(names[0]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid_from or NOW - DAY).not_valid_after(valid_to or NOW + 20 * DAY)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return Issued(cert.public_bytes(serialization.Encoding.PEM) + self.pem, _pem_key(key))


def self_signed(names: list[str]) -> Issued:
    """A certificate signed by its own key (no CA anyone trusts)."""
    return TestCA(names[0]).issue(names)


def nss_db_trusting(ca: TestCA, home: Path) -> Path:
    """``$HOME/.pki/nssdb`` with ``ca`` trusted for TLS servers, the store Chromium on
    Linux reads for locally added trust (libnss3-tools' certutil)."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True,
                   capture_output=True)
    ca_file = ca.write(home / "test-ca.pem")
    subprocess.run(["certutil", "-A", "-d", f"sql:{db}", "-n", "Salon Test CA", "-t", "C,,",
                    "-i", str(ca_file)], check=True, capture_output=True)
    return db
