"""A private certificate authority for one local service's internal links (mutual TLS).

SeaweedFS's master, volume server and filer talk to each other over gRPC and HTTP; with a
CA and a certificate of its own, each of them refuses any caller that cannot present a
certificate from that CA, which only the service itself holds. The material is made
fresh at every start, so a leaked key dies with the process that used it.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Long enough for any run; the material is replaced at every start anyway.
_VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class MutualTLS:
    """Where a CA certificate and one certificate + key it signed live, and the name in it."""

    ca: Path
    cert: Path
    key: Path
    common_name: str

    def client_context(self) -> ssl.SSLContext:
        """A client context that presents this certificate and trusts only this CA."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    path.chmod(0o600)


def issue(directory: Path, common_name: str) -> MutualTLS:
    """A fresh CA and one certificate for ``common_name`` on 127.0.0.1/localhost, good for
    both ends of a connection (server and client auth), written 0600 into ``directory``."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + _VALIDITY
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name}-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    material = MutualTLS(directory / "ca.crt", directory / "node.crt", directory / "node.key", common_name)
    _write_private(material.ca, ca.public_bytes(serialization.Encoding.PEM))
    _write_private(material.cert, cert.public_bytes(serialization.Encoding.PEM))
    _write_private(material.key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    return material
