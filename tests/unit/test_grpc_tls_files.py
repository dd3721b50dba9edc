"""A server's certificate and key files are checked before the server binds its port: a file that cannot be read,
is not PEM, is encrypted, or a key that is not the certificate's is a settings error naming the variable.

grpc found them wrong only when binding, and the service then said another process listened on its port."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from services.common.settings import GrpcTlsSettings, SettingsError
from services.common.tls import check_server_files
from tests.certificates import CertificateFiles, self_signed

CERT = "LOYALTY_GRPC_TLS_CERT_FILE"
KEY = "LOYALTY_GRPC_TLS_KEY_FILE"


@pytest.fixture
def certificate(tmp_path: Path) -> CertificateFiles:
    return self_signed(tmp_path)


def _refusal(cert_file: Path, key_file: Path) -> str:
    with pytest.raises(SettingsError) as refused:
        check_server_files(GrpcTlsSettings(cert_file=str(cert_file), key_file=str(key_file)))
    return str(refused.value)


def test_a_certificate_and_its_key_pass(certificate: CertificateFiles) -> None:
    check_server_files(GrpcTlsSettings(cert_file=str(certificate.cert_file), key_file=str(certificate.key_file)))
    check_server_files(GrpcTlsSettings())  # plaintext: nothing to check


def test_a_file_that_is_not_there_is_named_with_its_variable(certificate: CertificateFiles, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    said = "cannot be read: No such file or directory"
    assert _refusal(missing, certificate.key_file) == f"{CERT}={missing}: {said}"
    assert _refusal(certificate.cert_file, missing) == f"{KEY}={missing}: {said}"
    assert _refusal(tmp_path, certificate.key_file) == f"{CERT}={tmp_path}: cannot be read: Is a directory"


def test_files_that_are_not_pem_name_the_certificate_first_then_the_key(
    certificate: CertificateFiles, tmp_path: Path
) -> None:
    text = tmp_path / "hostname"
    text.write_text("a-host\n")
    assert _refusal(text, text) == f"{CERT}={text}: holds no PEM certificate"
    assert (
        _refusal(certificate.key_file, certificate.key_file)
        == f"{CERT}={certificate.key_file}: holds no PEM certificate"
    )
    assert _refusal(certificate.cert_file, text) == f"{KEY}={text}: holds no PEM private key"
    assert (
        _refusal(certificate.cert_file, certificate.cert_file)
        == f"{KEY}={certificate.cert_file}: holds no PEM private key"
    )


def test_the_key_of_another_certificate_is_refused(certificate: CertificateFiles, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = self_signed(tmp_path / "other")
    assert _refusal(certificate.cert_file, other.key_file) == (
        f"{KEY}={other.key_file}: is not the key of the certificate in {CERT}={certificate.cert_file}"
    )


def test_an_encrypted_key_is_refused_without_asking_for_its_password(
    certificate: CertificateFiles, tmp_path: Path
) -> None:
    key = serialization.load_pem_private_key(certificate.key_file.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"a password"),
        )
    )
    assert (
        _refusal(certificate.cert_file, encrypted)
        == f"{KEY}={encrypted}: is encrypted; gRPC takes only an unencrypted key"
    )
