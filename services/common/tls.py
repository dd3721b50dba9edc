"""gRPC channels and server credentials: TLS when configured, client spans and the caller's token always."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from services.common.auth import caller_interceptors
from services.common.settings import GrpcTlsSettings


def server_credentials(tls: GrpcTlsSettings) -> grpc.ServerCredentials:
    """The server's certificate chain and private key, read from their files."""
    if tls.cert_file is None or tls.key_file is None:
        raise ValueError("a TLS server needs both a certificate and a key file")
    return grpc.ssl_server_credentials([(Path(tls.key_file).read_bytes(), Path(tls.cert_file).read_bytes())])


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
