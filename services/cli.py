"""The `loyalty` command: run the platform locally, serve one service, apply migrations."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys

import grpc
import uvloop
from aiokafka.errors import KafkaError, UnknownError

from services.client import ArgumentRefused, add_client_commands
from services.common.auth import authorizer_from
from services.common.db import DatabaseUnusable
from services.common.doctor import add_doctor_command
from services.common.grpc_server import PortUnavailable
from services.common.health_cli import add_health_command
from services.common.migrations import migrate
from services.common.runtime import Builder, run_service
from services.common.settings import SERVICE_NAMES, SettingsError, kafka_settings, service_settings
from services.common.tls import check_server_files
from services.common.topics_cli import add_topics_command
from services.ledger_cli import add_ledger_commands
from services.notifications_cli import add_notifications_commands
from services.partner_cli import add_partner_commands
from services.program_cli import add_program_commands
from services.report_cli import add_report_command


def _builder(service: str) -> Builder:
    module = importlib.import_module(f"services.{service}.main")
    builder: Builder = module.build
    return builder


def _serve(args: argparse.Namespace) -> int:
    settings = service_settings(args.service, os.environ)
    check_server_files(settings.grpc_tls)  # before migrating: grpc would find them wrong only when binding
    # Read once, before migrating (a wrong token entry, or none in a variable set, stops it first), and used by
    # every server of the process: read again later, a tokens file rewritten meanwhile could give them different
    # tokens, and a pipe (`LOYALTY_AUTH_TOKENS_FILE=<(...)`) has nothing left to read.
    authorizer = authorizer_from(os.environ)
    # uvloop's event loop: a third more RecordPurchase calls per second than asyncio's in
    # bench/grpc_record_purchase.py, mostly from cheaper socket writes to PostgreSQL and Kafka.
    try:
        uvloop.run(run_service(settings, _builder(args.service), authorizer))
    except (PortUnavailable, DatabaseUnusable):
        return 1  # the service logged why, in its JSON lines; a traceback would say nothing more
    return 0


def _migrate(args: argparse.Namespace) -> int:
    async def run() -> None:
        for service in args.services or SERVICE_NAMES:
            applied = await migrate(service_settings(service, os.environ).database_url, service)
            print(f"{service}: {len(applied)} migration(s) applied" + "".join(f"\n  {a}" for a in applied))

    asyncio.run(run())
    return 0


def _dev(argv: list[str]) -> int:
    # Imported late: only `loyalty dev` needs the embedded servers.
    dev = importlib.import_module("services.dev")
    result: int = dev.main(argv)
    return result


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="loyalty", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="run the whole platform on embedded PostgreSQL and Kafka", add_help=False)
    dev.add_argument("dev_args", nargs=argparse.REMAINDER)
    dev.set_defaults(run=_dev)
    serve = commands.add_parser("serve", help="run one service against the configured database and broker")
    serve.add_argument("service", choices=SERVICE_NAMES)
    serve.set_defaults(run=_serve)
    migrate_command = commands.add_parser("migrate", help="apply pending migrations")
    migrate_command.add_argument(
        "services", nargs="*", metavar="SERVICE", help=f"any of {', '.join(SERVICE_NAMES)}; all by default"
    )
    migrate_command.set_defaults(run=_migrate)
    add_client_commands(commands)
    add_ledger_commands(commands)
    add_program_commands(commands)
    add_partner_commands(commands)
    add_report_command(commands)
    add_notifications_commands(commands)
    add_topics_command(commands)
    add_doctor_command(commands)
    add_health_command(commands)
    return root


def _kafka_hint(error: KafkaError) -> str:
    # The embedded broker answers the idempotent producer's InitProducerId with UnknownError, and setting
    # LOYALTY_KAFKA_BOOTSTRAP (to reach `loyalty dev --kafka-port`) turns that producer on.
    if isinstance(error, UnknownError) and kafka_settings(os.environ).idempotence:
        return "a broker without the idempotent producer, as `loyalty dev`'s, needs LOYALTY_KAFKA_IDEMPOTENCE=false"
    return "is `loyalty dev` running?"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dev"]:
        return _dev(argv[1:])
    args = parser().parse_args(argv)
    try:
        result: int = args.run(args)
    except (SettingsError, ArgumentRefused) as error:
        print(f"loyalty: {error}", file=sys.stderr)
        return 2
    except DatabaseUnusable as error:
        print(f"loyalty: {error}", file=sys.stderr)
        return 1
    except grpc.aio.AioRpcError as error:
        print(f"loyalty: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    except KafkaError as error:
        print(f"loyalty: the Kafka broker did not take it ({error}); {_kafka_hint(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`loyalty balance alice | head -1`): say nothing more, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return result


if __name__ == "__main__":
    raise SystemExit(main())
