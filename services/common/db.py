"""PostgreSQL access: the asyncpg pool and the unit of work around each transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import Context, ContextVar

import asyncpg

from services.common.errors import AlreadyExists
from services.common.redaction import redacted_url

# The database cannot take the work now, whatever the work: trying again later succeeds, and it is never the
# caller's (or the message's) fault. By SQLSTATE class, as PostgreSQL and asyncpg group them:
# - it cannot be reached, went away mid-statement (08 connection exception, and the client-side errors); asyncpg's
#   InternalClientError is a connection left mid-operation when the server cut it ("cannot switch to state 15;
#   another operation is in progress", seen once as PostgreSQL restarted): unhandled, it ended a consumer;
# - it takes no writes (25006 read_only_sql_transaction): a failover whose DNS still names the old primary, now a
#   standby, or a primary demoted for maintenance;
# - it ended the session of a transaction left idle too long (25P03), say while a dead letter waited on the broker;
# - it is short of connections, memory or disk (53 insufficient resources: too many connections, out of memory);
# - an operator or the server stopped the work (57 operator intervention: shutdown, crash restart, starting up,
#   statement timeout or cancel).
# Not a lost conflict (40, TRANSACTION_CONFLICT, told apart: a gRPC caller gets ABORTED), nor a value refused
# (VALUE_REFUSED), nor anything else the database raises (a defect: a consumer dead-letters its message).
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.exceptions._base.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
    asyncpg.exceptions.IdleInTransactionSessionTimeoutError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.OperatorInterventionError,
)

# Connecting fails alike however often it is tried: asyncpg cannot use the URL (ValueError: its
# ClientConfigurationError, or a port that is no number; OverflowError: a port beyond 65535), the database does not
# exist, or the server refuses the role or its password. Told apart from DATABASE_UNAVAILABLE only around a connect:
# a ValueError elsewhere is no fault of the database's.
CONNECTION_REFUSED: tuple[type[BaseException], ...] = (
    ValueError,
    OverflowError,
    asyncpg.exceptions.InvalidCatalogNameError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
)


class DatabaseUnusable(Exception):
    """The database a service's setting names cannot be used, said in one line naming the setting and the cause
    (its URL shown with the password redacted): a command prints it, a service logs it and exits."""

    def __init__(self, setting: str, url: str, cause: str) -> None:
        self.setting, self.url, self.cause = setting, redacted_url(url), cause
        super().__init__(f"{setting} ({self.url}): {cause}")


class DatabaseRefused(DatabaseUnusable):
    """No retry helps (CONNECTION_REFUSED)."""


class DatabaseUnavailable(DatabaseUnusable):
    """The database does not answer or takes no work now (DATABASE_UNAVAILABLE): a later attempt may succeed."""


def described(error: BaseException) -> str:
    """An error in a line: its kind (ConnectionRefusedError says more than `[Errno 111]`) and its text."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def connect(database_url: str, setting: str) -> asyncpg.Connection:
    """asyncpg.connect; DatabaseRefused naming `setting` when no retry would connect (DATABASE_UNAVAILABLE is
    raised as it comes)."""
    try:
        return await asyncpg.connect(database_url)
    except CONNECTION_REFUSED as error:  # first: asyncpg's ClientConfigurationError is an InterfaceError too
        raise DatabaseRefused(setting, database_url, described(error)) from error


@contextmanager
def unavailable_as_unusable(database_url: str, setting: str) -> Iterator[None]:
    """DATABASE_UNAVAILABLE raised inside becomes DatabaseUnavailable naming `setting`."""
    try:
        yield
    except DATABASE_UNAVAILABLE as error:
        raise DatabaseUnavailable(setting, database_url, described(error)) from error


# The transaction lost to a concurrent one (deadlock, serialization failure) and was rolled back
# as a whole: running it again succeeds. Consumers retry their batch; a gRPC caller gets ABORTED.
TRANSACTION_CONFLICT: tuple[type[BaseException], ...] = (asyncpg.exceptions.TransactionRollbackError,)

# A value the database will not keep (a number beyond its column, a failed CHECK, a missing NOT NULL
# value, text too long for an index entry): the same input fails every time. A consumer dead-letters
# the event that carried it.
VALUE_REFUSED: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.DataError,
    asyncpg.exceptions.CheckViolationError,
    asyncpg.exceptions.NotNullViolationError,
    asyncpg.exceptions.ProgramLimitExceededError,
)

# What kind of value the database refused, told without the database's message: that names tables, constraints
# and query arguments, and its DETAIL quotes the whole row. A caller's status (FAILED_PRECONDITION) and a dead
# letter's reason say this instead; the database's own message goes to the service's log.
_REFUSED_VALUES: dict[type[BaseException], str] = {
    asyncpg.exceptions.NumericValueOutOfRangeError: "a number is beyond what can be stored",
    asyncpg.exceptions.StringDataRightTruncationError: "a text is longer than can be stored",
    asyncpg.exceptions.ProgramLimitExceededError: "a value is too large to be stored",
    asyncpg.exceptions.CheckViolationError: "a value is outside what may be stored",
    asyncpg.exceptions.NotNullViolationError: "a value that must be stored is missing",
}


def refused_value(error: BaseException) -> str:
    """What a VALUE_REFUSED error refused, in the caller's terms (no table, constraint or SQL in it)."""
    kind = next((text for kind, text in _REFUSED_VALUES.items() if isinstance(error, kind)), None)
    return kind or "a value cannot be stored"


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = _PoolRestoringItsFloorOutsideTraces(
        database_url,
        min_size=min_size,
        max_size=max_size,
        # command_timeout bounds a statement stuck behind a lock or a dead server.
        command_timeout=30,
        reset=_keep_session,
        # What asyncpg.create_pool passes by default, which the class's constructor requires.
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
    )
    return await pool


class _PoolRestoringItsFloorOutsideTraces(asyncpg.Pool):  # type: ignore[misc]  # asyncpg ships no types
    """asyncpg's pool, whose floor restorer (the task that reconnects up to min_size, logging each failed attempt
    while the database is away) starts in an empty context.

    asyncio gives a task a copy of the context that starts it: here that of whatever lost a connection or failed to
    get one (a gRPC call, a consumed event, or a job, whose connection's callbacks keep the context it was made in).
    With it came that operation's span, and every retry line of an outage carried the trace id of an operation
    long over (a startup job's, minutes before). asyncpg offers no hook for this, so this overrides its private
    method; tests/integration/test_pool_floor.py fails if a release of asyncpg renames it.
    """

    __slots__ = ()

    def _schedule_min_size_maintenance(self) -> None:
        Context().run(super()._schedule_min_size_maintenance)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Skip the default reset query, a round trip on every release.

    Nothing here leaves session state behind: transactions are always closed
    by their context manager, no code SETs session settings, and the only
    LISTEN and session advisory lock (the outbox relay's) are undone
    explicitly before its connection goes back.
    """


# What to do once the unit of work under way commits: counting what it did (metrics), not what an attempt
# rolled back and ran again did.
_AFTER_COMMIT: ContextVar[list[Callable[[], None]] | None] = ContextVar("after_commit", default=None)


def after_commit(action: Callable[[], None]) -> None:
    """Run `action` once the unit of work under way commits, never if it rolls back; at once outside one."""
    pending = _AFTER_COMMIT.get()
    if pending is None:
        action()
    else:
        pending.append(action)


@asynccontextmanager
async def savepoint(connection: asyncpg.Connection) -> AsyncIterator[None]:
    """A savepoint in the unit of work under way: rolled back, it drops the after-commit actions it registered."""
    pending = _AFTER_COMMIT.get()
    mark = len(pending) if pending is not None else 0
    try:
        async with connection.transaction():
            yield
    except BaseException:
        if pending is not None:
            del pending[mark:]
        raise


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """One transaction: state changes, outbox rows and inbox marks commit together or not at all."""
    committed: list[Callable[[], None]] = []
    token = _AFTER_COMMIT.set(committed)
    try:
        async with pool.acquire() as connection, connection.transaction():
            yield connection
    finally:
        _AFTER_COMMIT.reset(token)
    for action in committed:
        action()


@contextmanager
def taken_concurrently(constraints: Collection[str], message: str) -> Iterator[None]:
    """A unique key a concurrent transaction took first is ALREADY_EXISTS with `message`, not INTERNAL.

    A key is looked up under its member's lock; the same key sent for two members at once passes both
    lookups, and the second insert meets the first in the unique index.
    """
    try:
        yield
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name not in constraints:
            raise
        raise AlreadyExists(message) from error
