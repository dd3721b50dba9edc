"""Client commands for earning programs, over gRPC ProgramService (at LOYALTY_POINTS_ADDRESS):

loyalty program apply FILE [--dry-run]     validate a YAML definition and store it as the next version
loyalty program show [PROGRAM_ID] [--at T] the version in force now (or at T), with its definition
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

import grpc
from google.rpc import error_details_pb2, status_pb2
from loyalty.points.v1 import program_pb2 as pb
from loyalty.points.v1 import program_pb2_grpc

from services.client import iso_moment, points_channel
from services.common.events import timestamp

_OUTCOME = {
    pb.APPLY_OUTCOME_CREATED: "stored",
    pb.APPLY_OUTCOME_UNCHANGED: "already stored with this exact definition; nothing changed",
    pb.APPLY_OUTCOME_VALIDATED: "valid (dry run: nothing stored)",
}


def add_program_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    program = commands.add_parser("program", help="apply or show an earning program (docs/program.md)")
    actions = program.add_subparsers(dest="program_command", required=True)

    apply = actions.add_parser("apply", help="validate a program definition and store it as the program's next version")
    apply.add_argument("file", help="the YAML definition; - reads standard input")
    apply.add_argument("--dry-run", action="store_true", help="only check the definition; store nothing")
    apply.set_defaults(run=lambda args: asyncio.run(_apply(args)))

    show = actions.add_parser("show", help="show the version of a program in force, with its definition")
    show.add_argument("program_id", nargs="?", default="", help="defaults to the only program there is")
    show.add_argument("--at", default=None, help="ISO 8601 time, e.g. 2025-07-04T12:00:00Z (UTC without an offset)")
    show.set_defaults(run=lambda args: asyncio.run(_show(args)))


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise SystemExit(f"loyalty: cannot read {path}: {error}") from None


async def _apply(args: argparse.Namespace) -> int:
    request = pb.ApplyProgramRequest(definition=_read(args.file), dry_run=args.dry_run)
    try:
        async with points_channel() as channel:
            response = await program_pb2_grpc.ProgramServiceStub(channel).ApplyProgram(request)
    except grpc.aio.AioRpcError as error:
        return _report_invalid(error, args.file)
    version = response.program
    effective = version.effective_from.ToDatetime(tzinfo=UTC).isoformat()
    print(
        f"program {version.program_id} version {version.version}, effective from {effective}:"
        f" {_OUTCOME.get(response.outcome, 'done')}"
    )
    return 0


def _report_invalid(error: grpc.aio.AioRpcError, path: str) -> int:
    """Each wrong field on its own line; any other error goes to the common handler."""
    violations = _field_violations(error) if error.code() == grpc.StatusCode.INVALID_ARGUMENT else []
    if not violations:
        raise error
    print(f"loyalty: {path} is not a valid program definition:", file=sys.stderr)
    for violation in violations:
        print(f"  {violation.field}: {violation.description}", file=sys.stderr)
    return 1


def _field_violations(error: grpc.aio.AioRpcError) -> list[error_details_pb2.BadRequest.FieldViolation]:
    details = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    if not isinstance(details, bytes):
        return []
    violations = []
    for detail in status_pb2.Status.FromString(details).details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            violations.extend(bad_request.field_violations)
    return violations


def _moment(text: str | None) -> datetime | None:
    return None if text is None else iso_moment(text, "--at")


async def _show(args: argparse.Namespace) -> int:
    at = _moment(args.at)
    request = pb.GetProgramRequest(program_id=args.program_id, at=timestamp(at) if at else None)
    async with points_channel() as channel:
        response = await program_pb2_grpc.ProgramServiceStub(channel).GetProgram(request)
    version = response.program
    effective = version.effective_from.ToDatetime(tzinfo=UTC).isoformat()
    applied = version.created_at.ToDatetime(tzinfo=UTC).isoformat()
    print(f"# program {version.program_id} version {version.version}: effective from {effective}, applied {applied}")
    print(version.definition, end="" if version.definition.endswith("\n") else "\n")
    return 0
