"""gRPC channels from one service (or the command line) to another: traced, and carrying the caller's token."""

from __future__ import annotations

import os

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from services.common.auth import caller_interceptors


def internal_channel(target: str) -> grpc.aio.Channel:
    """A channel whose calls carry the trace context and `LOYALTY_CALLER_TOKEN` (when set)."""
    interceptors = [*aio_client_interceptors(), *caller_interceptors(os.environ)]
    return grpc.aio.insecure_channel(target, interceptors=interceptors)
