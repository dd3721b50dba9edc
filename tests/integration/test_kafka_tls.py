"""Kafka clients over SSL: a broker behind a TLS endpoint with a certificate made in the test.

The embedded broker speaks plaintext only, so the test puts a TLS-terminating
proxy in front of it and has the broker advertise the proxy: every connection
the clients make, bootstrap and partition leaders alike, goes through TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError

from services.common.embedded import EmbeddedBroker, free_port
from services.common.kafka import ensure_topics, new_consumer, new_producer
from services.common.settings import KafkaSettings, kafka_settings
from tests.certificates import CertificateFiles, self_signed


class _AdvertisingBroker(EmbeddedBroker):
    """The embedded broker telling clients to connect to `advertised` instead of where it listens."""

    def __init__(self, advertised: str, log_path: Path) -> None:
        super().__init__(log_path=log_path)
        self._advertised = advertised

    def _command(self) -> list[str]:
        command = super()._command()
        command[command.index("--advertised-listener-url") + 1] = f"tcp://{self._advertised}"
        return command

    async def _answers_metadata(self) -> bool:
        # Its metadata sends clients to the TLS endpoint, which a plaintext probe cannot use; listening suffices.
        return True


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def _tls_proxy(certificate: CertificateFiles, port: int, upstream: int) -> AsyncIterator[None]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer), return_exceptions=True)

    server = await asyncio.start_server(relay, "127.0.0.1", port, ssl=context)
    try:
        yield
    finally:
        server.close()


@pytest.fixture
async def tls_bootstrap(tmp_path: Path) -> AsyncIterator[tuple[str, CertificateFiles]]:
    """`localhost:<port>`, a broker reachable only over TLS, and the certificate it presents."""
    certificate = self_signed(tmp_path)
    port = free_port()
    broker = _AdvertisingBroker(f"localhost:{port}", tmp_path / "broker.log")
    await broker.start()
    try:
        async with _tls_proxy(certificate, port, broker.port):
            yield f"localhost:{port}", certificate
    finally:
        await broker.stop()


def _ssl_settings(bootstrap: str, ca_file: Path) -> KafkaSettings:
    return kafka_settings(
        {
            "LOYALTY_KAFKA_BOOTSTRAP": bootstrap,
            "LOYALTY_KAFKA_IDEMPOTENCE": "false",
            "LOYALTY_KAFKA_SECURITY_PROTOCOL": "SSL",
            "LOYALTY_KAFKA_SSL_CA_FILE": str(ca_file),
        }
    )


async def test_events_are_produced_and_consumed_over_ssl(tls_bootstrap: tuple[str, CertificateFiles]) -> None:
    bootstrap, certificate = tls_bootstrap
    kafka = _ssl_settings(bootstrap, certificate.cert_file)
    topic = f"tls.{uuid.uuid4().hex[:8]}"
    await asyncio.wait_for(ensure_topics(kafka, [topic]), timeout=30)
    producer = new_producer(kafka)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"over tls", key=b"m-1")
    finally:
        await producer.stop()
    consumer = new_consumer(kafka, f"tls-{uuid.uuid4().hex[:8]}", topic)
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"m-1", b"over tls")


async def test_a_broker_certificate_from_another_ca_is_refused(
    tls_bootstrap: tuple[str, CertificateFiles], tmp_path: Path
) -> None:
    bootstrap, _ = tls_bootstrap
    (tmp_path / "stranger").mkdir()
    stranger = self_signed(tmp_path / "stranger")
    with pytest.raises((KafkaError, ssl.SSLError, OSError, TimeoutError)):
        await asyncio.wait_for(ensure_topics(_ssl_settings(bootstrap, stranger.cert_file), ["tls.refused"]), timeout=30)
