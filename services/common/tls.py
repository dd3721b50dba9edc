"""gRPC channels and server credentials: TLS when configured, client spans and the caller's token always."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from services.common.auth import caller_interceptors
from services.common.settings import GrpcTlsSettings, SettingsError, check_certificates
from services.common.text_files import unreadable


def server_credentials(tls: GrpcTlsSettings) -> grpc.ServerCredentials:
    """The server's certificate chain and private key, read from their files once `check_server_files` passed."""
    if tls.cert_file is None or tls.key_file is None:
        raise ValueError("a TLS server needs both a certificate and a key file")
    check_server_files(tls)
    return grpc.ssl_server_credentials([(Path(tls.key_file).read_bytes(), Path(tls.cert_file).read_bytes())])


def check_server_files(tls: GrpcTlsSettings) -> None:
    """A SettingsError naming the setting unless the certificate chain and the private key load and match.

    grpc finds them wrong only when it binds the port, and then says no more than that it could not bind: the
    service reported another process on its port. Python's ssl reads the same PEM files and checks the pair.
    """
    if tls.cert_file is None or tls.key_file is None:
        return
    cert = f"LOYALTY_GRPC_TLS_CERT_FILE={tls.cert_file}"
    key = f"LOYALTY_GRPC_TLS_KEY_FILE={tls.key_file}"
    check_certificates(cert, tls.cert_file)  # the certificates alone, to tell which file is wrong
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
            tls.cert_file, tls.key_file, password=_refuse_encrypted_key
        )
    except _EncryptedKey:
        raise SettingsError(f"{key}: is encrypted; gRPC takes only an unencrypted key") from None
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            raise SettingsError(f"{key}: is not the key of the certificate in {cert}") from None
        raise SettingsError(f"{key}: holds no PEM private key") from None
    except OSError as error:
        raise SettingsError(unreadable(key, error)) from None


class _EncryptedKey(Exception):
    """The key file asked for a password: grpc cannot be given one."""


def _refuse_encrypted_key() -> bytes:
    # Without a callback, OpenSSL would prompt for the password on the terminal.
    raise _EncryptedKey


def grpc_channel(
    target: str, tls: GrpcTlsSettings, *, server_name: str | None = None, env: Mapping[str, str] | None = None
) -> grpc.aio.Channel:
    """A channel to another service (or, from the CLI, to any): TLS trusting `tls.ca_file` when set,
    and `LOYALTY_CALLER_TOKEN` (when set, in `env` or else the process's environment) on every call.

    `server_name` is the name to expect in the server's certificate when it is not the target's host
    (a probe calling its own pod on 127.0.0.1).
    """
    interceptors = [*aio_client_interceptors(), *caller_interceptors(os.environ if env is None else env)]
    if tls.ca_file is None:
        return grpc.aio.insecure_channel(target, interceptors=interceptors)
    credentials = grpc.ssl_channel_credentials(root_certificates=Path(tls.ca_file).read_bytes())
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    return grpc.aio.secure_channel(target, credentials, options=options, interceptors=interceptors)
