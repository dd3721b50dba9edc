"""TicketsService and AgentService over gRPC on real PostgreSQL: SLA by tier, routing, queue, claims, goodwill."""

from __future__ import annotations

import uuid
from datetime import timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1 import tickets_pb2 as events
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from loyalty.points.v1 import credits_pb2 as credits_pb
from loyalty.points.v1 import credits_pb2_grpc, partners_pb2_grpc
from loyalty.points.v1 import partners_pb2 as partners_pb
from loyalty.points.v1 import points_pb2 as points_pb
from loyalty.tickets.v1 import agents_pb2 as agents_pb
from loyalty.tickets.v1 import tickets_pb2 as pb

from services.common.embedded import free_port
from services.common.errors import InvalidArgument
from services.common.events import timestamp
from services.common.grpc_server import GrpcServer, Registration
from services.tickets.claims import UNVERIFIED, CreditLookup
from services.tickets.domain import Claim
from tests.integration.support import field_violations
from tests.integration.tickets_fixtures import START, TicketsPlatform, agent, platform

__all__ = ["platform"]


def member() -> str:
    return f"m-{uuid.uuid4().hex[:8]}"


def opening(member_id: str, **changes: object) -> pb.OpenTicketRequest:
    request = pb.OpenTicketRequest(
        member_id=member_id,
        category=pb.TICKET_CATEGORY_ACCOUNT,
        channel=pb.TICKET_CHANNEL_EMAIL,
        subject="cannot log in",
        description="password reset mail never arrives",
    )
    for name, value in changes.items():
        if isinstance(value, pb.Claim):
            request.claim.CopyFrom(value)
        else:
            setattr(request, name, value)
    return request


def due(stamp: Timestamp) -> object:
    return stamp.ToDatetime().replace(tzinfo=START.tzinfo)


def payload_of(envelope: bytes, kind: type) -> object:
    parsed = EventEnvelope.FromString(envelope)
    message = kind()
    parsed.payload.Unpack(message)
    return message


async def test_tier_policy_routing_queue_and_drain(platform: TicketsPlatform) -> None:
    gold, base = member(), member()
    await platform.set_tier(gold, "gold")
    await platform.set_tier(base, "base")
    await platform.agents.UpsertAgent(agent("ann", {"accounts": 2}))
    await platform.agents.UpsertAgent(agent("bob", {"accounts": 4}))

    top = (await platform.tickets.OpenTicket(opening(gold))).ticket
    assert (top.priority, top.sla_policy, top.assignee) == (pb.TICKET_PRIORITY_HIGH, "top-tier", "bob")
    assert due(top.first_response_due) == START + timedelta(hours=1)
    assert due(top.resolution_due) == START + timedelta(hours=8)
    standard = (await platform.tickets.OpenTicket(opening(base, category=pb.TICKET_CATEGORY_OTHER))).ticket
    assert (standard.priority, standard.sla_policy, standard.assignee) == (pb.TICKET_PRIORITY_LOW, "standard", "")

    platform.clock.advance(timedelta(minutes=1))
    german = (await platform.tickets.OpenTicket(opening(base, language="de"))).ticket
    assert german.assignee == ""
    queue = (await platform.agents.GetQueue(agents_pb.GetQueueRequest())).tickets
    assert [t.ticket_id for t in queue] == [standard.ticket_id, german.ticket_id]

    change = await platform.agents.UpsertAgent(agent("dora", {"accounts": 1, "general": 3}, languages=("de", "en")))
    assert sorted(change.assigned_ticket_ids) == sorted([standard.ticket_id, german.ticket_id])
    assert change.agent.load == 2
    assert list((await platform.agents.GetQueue(agents_pb.GetQueueRequest())).tickets) == []
    assigned = await platform.outbox("TicketAssigned")
    assert [payload_of(e, events.TicketAssigned).agent_id for e in assigned] == ["bob", "dora", "dora"]  # type: ignore[attr-defined]


async def test_agent_going_away_and_coming_back(platform: TicketsPlatform) -> None:
    someone = member()
    await platform.set_tier(someone, "base")
    await platform.agents.UpsertAgent(agent("eve", {"accounts": 3}, status=agents_pb.AGENT_STATUS_AWAY))
    queued = (await platform.tickets.OpenTicket(opening(someone))).ticket
    assert queued.assignee == ""
    back = await platform.agents.SetAgentStatus(
        agents_pb.SetAgentStatusRequest(agent_id="eve", status=agents_pb.AGENT_STATUS_AVAILABLE)
    )
    assert list(back.assigned_ticket_ids) == [queued.ticket_id]
    fetched = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=queued.ticket_id))).ticket
    assert fetched.assignee == "eve"
    listed = await platform.tickets.ListTickets(pb.ListTicketsRequest(assignee="eve"))
    assert [t.ticket_id for t in listed.tickets] == [queued.ticket_id]


async def test_refused_calls_name_the_field_and_write_nothing(platform: TicketsPlatform) -> None:
    known = member()
    await platform.set_tier(known, "base")
    cases = [
        (opening(known, category=0, subject=""), {"category", "subject"}),
        (opening(known, language="english"), {"language"}),
        (opening(known, category=pb.TICKET_CATEGORY_MISSING_POINTS), {"claim"}),
        (
            opening(
                known,
                category=pb.TICKET_CATEGORY_MISSING_POINTS,
                claim=pb.Claim(partner_id="airline", partner_transaction_id="tx 1", purchase_id="p-1"),
            ),
            {"claim.partner_transaction_id", "claim.purchase_id"},
        ),
    ]
    for request, fields in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await platform.tickets.OpenTicket(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(caught.value)) == fields
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await platform.tickets.OpenTicket(opening("never-seen"))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as bad_id:
        await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id="nope"))
    assert bad_id.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as bad_agent:
        await platform.agents.UpsertAgent(agent("x y", {"claims": 9, "réclamations": 3}, languages=(), capacity=0))
    assert set(field_violations(bad_agent.value)) == {
        "agent.agent_id",
        "agent.skills[0].level",
        "agent.skills[1].skill",  # letters the database's check does not take, named rather than refused by it
        "agent.languages",
        "agent.capacity",
    }
    assert await platform.pool.fetchval("SELECT count(*) FROM tickets") == 0
    assert await platform.pool.fetchval("SELECT count(*) FROM agents") == 0
    assert await platform.pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_every_bad_field_of_a_ticket_call_is_named_before_anything_is_looked_up(
    platform: TicketsPlatform,
) -> None:
    missing = str(uuid.uuid4())  # well formed, but no such ticket: the bad agent id is still what is reported
    calls = [
        (platform.tickets.ResolveTicket(pb.ResolveTicketRequest(ticket_id=missing, resolution="ok")), {"agent_id"}),
        (
            platform.tickets.AssignTicket(pb.AssignTicketRequest(ticket_id="", agent_id="a b")),
            {"ticket_id", "agent_id"},
        ),
        (platform.tickets.ApproveGoodwill(pb.ApproveGoodwillRequest(ticket_id=missing)), {"approver_agent_id"}),
        (
            platform.tickets.AddMessage(pb.AddMessageRequest(ticket_id="", author=pb.MESSAGE_AUTHOR_AGENT)),
            {"ticket_id", "author_id", "body"},
        ),
        (platform.tickets.AddMessage(pb.AddMessageRequest()), {"ticket_id", "author", "author_id", "body"}),
        (platform.agents.SetAgentStatus(agents_pb.SetAgentStatusRequest()), {"agent_id", "status"}),
        (platform.tickets.SubmitSurvey(pb.SubmitSurveyRequest()), {"ticket_id", "effort", "satisfaction"}),
        (
            platform.tickets.GetServiceMetrics(
                pb.GetServiceMetricsRequest(
                    from_time=timestamp(START), to_time=timestamp(START + timedelta(days=1)), tier="t" * 10_000
                )
            ),
            {"tier"},
        ),
    ]
    for call, fields in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(caught.value)) == fields


async def test_every_enum_field_of_a_tickets_request_refuses_a_number_its_enum_lacks(
    platform: TicketsPlatform,
) -> None:
    # protobuf keeps any int32 in an enum field: each is refused naming the field, before anything is looked up.
    known = member()
    await platform.set_tier(known, "base")
    window = {"from_time": timestamp(START), "to_time": timestamp(START + timedelta(days=1))}
    for number in (99, -1):
        calls = [
            (platform.tickets.OpenTicket(opening(known, category=number)), "category"),
            (platform.tickets.OpenTicket(opening(known, channel=number)), "channel"),
            (platform.tickets.ListTickets(pb.ListTicketsRequest(status=number)), "status"),
            (
                platform.tickets.AddMessage(
                    pb.AddMessageRequest(ticket_id=str(uuid.uuid4()), author=number, author_id="ann", body="hi")
                ),
                "author",
            ),
            (platform.tickets.GetServiceMetrics(pb.GetServiceMetricsRequest(category=number, **window)), "category"),
            (platform.agents.UpsertAgent(agent("ann", {"accounts": 3}, status=number)), "agent.status"),
            (platform.agents.SetAgentStatus(agents_pb.SetAgentStatusRequest(agent_id="ann", status=number)), "status"),
        ]
        for call, field in calls:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            violations = field_violations(caught.value)
            assert list(violations) == [field], violations
            assert violations[field].startswith(f"'{number}' must be one of "), violations
    assert await platform.pool.fetchval("SELECT count(*) FROM tickets") == 0
    assert await platform.pool.fetchval("SELECT count(*) FROM agents") == 0


async def test_claims_checked_against_the_points_service_and_goodwill_limits(platform: TicketsPlatform) -> None:
    claimant = member()
    await platform.points.EnrollMember(points_pb.EnrollMemberRequest(member_id=claimant))
    await platform.set_tier(claimant, "base")
    credited_purchase = f"order-{uuid.uuid4().hex[:8]}"
    await platform.points.RecordPurchase(
        points_pb.RecordPurchaseRequest(
            purchase_id=credited_purchase,
            member_id=claimant,
            amount=Money(amount_minor=5000, currency_code="USD"),
            occurred_at=timestamp(START - timedelta(days=1)),
        )
    )
    await platform.agents.UpsertAgent(agent("ann", {"claims": 3}, goodwill_limit=300))
    await platform.agents.UpsertAgent(agent("bea", {"claims": 2}, goodwill_limit=1000))  # may approve 800
    claim = pb.TICKET_CATEGORY_MISSING_POINTS

    credited = (
        await platform.tickets.OpenTicket(
            opening(claimant, category=claim, claim=pb.Claim(purchase_id=credited_purchase))
        )
    ).ticket
    assert credited.claim_check.status == pb.CLAIM_STATUS_ALREADY_CREDITED
    assert credited.claim_check.credited_points == 100
    assert credited.claim_check.ledger_entry_id
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await platform.tickets.ResolveTicket(
            pb.ResolveTicketRequest(
                ticket_id=credited.ticket_id, agent_id="ann", resolution="ok", goodwill_points=100, goodwill_reason="x"
            )
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    closed = await platform.tickets.ResolveTicket(
        pb.ResolveTicketRequest(ticket_id=credited.ticket_id, agent_id="ann", resolution="already credited")
    )
    assert closed.ticket.status == pb.TICKET_STATUS_RESOLVED

    missing = (
        await platform.tickets.OpenTicket(opening(claimant, category=claim, claim=pb.Claim(purchase_id="order-lost")))
    ).ticket
    assert missing.claim_check.status == pb.CLAIM_STATUS_NOT_CREDITED
    within = await platform.tickets.ResolveTicket(
        pb.ResolveTicketRequest(
            ticket_id=missing.ticket_id,
            agent_id="ann",
            resolution="credited",
            goodwill_points=300,
            goodwill_reason="lost",
        )
    )
    assert (within.ticket.goodwill.status, within.ticket.goodwill.over_limit) == (pb.GOODWILL_STATUS_GRANTED, "")

    big = (
        await platform.tickets.OpenTicket(opening(claimant, category=claim, claim=pb.Claim(purchase_id="order-big")))
    ).ticket
    pending = await platform.tickets.ResolveTicket(
        pb.ResolveTicketRequest(
            ticket_id=big.ticket_id, agent_id="ann", resolution="credited", goodwill_points=800, goodwill_reason="big"
        )
    )
    assert (pending.ticket.goodwill.status, pending.ticket.goodwill.over_limit) == (
        pb.GOODWILL_STATUS_PENDING_APPROVAL,
        "agent limit 300",
    )
    grants = await platform.outbox("GoodwillGranted")
    assert [payload_of(e, events.GoodwillGranted).ticket_id for e in grants] == [missing.ticket_id]  # type: ignore[attr-defined]
    with pytest.raises(grpc.aio.AioRpcError) as same_agent:
        await platform.tickets.ApproveGoodwill(
            pb.ApproveGoodwillRequest(ticket_id=big.ticket_id, approver_agent_id="ann")
        )
    assert same_agent.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    approved = await platform.tickets.ApproveGoodwill(
        pb.ApproveGoodwillRequest(ticket_id=big.ticket_id, approver_agent_id="bea")
    )
    assert (approved.ticket.goodwill.status, approved.ticket.goodwill.approved_by) == (
        pb.GOODWILL_STATUS_GRANTED,
        "bea",
    )
    grants = await platform.outbox("GoodwillGranted")
    last = payload_of(grants[-1], events.GoodwillGranted)
    assert (last.ticket_id, last.points, last.granted_by, last.approved_by) == (big.ticket_id, 800, "ann", "bea")  # type: ignore[attr-defined]
    with pytest.raises(grpc.aio.AioRpcError) as twice:
        await platform.tickets.ApproveGoodwill(
            pb.ApproveGoodwillRequest(ticket_id=big.ticket_id, approver_agent_id="bea")
        )
    assert twice.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_find_credit_answers_by_purchase_id_and_names_a_bad_one(platform: TicketsPlatform) -> None:
    lookup = credits_pb2_grpc.CreditLookupServiceStub(platform.points_channel)
    unknown = await lookup.FindCredit(credits_pb.FindCreditRequest(purchase_id="order-unknown"))
    assert (unknown.credited, unknown.member_id, unknown.points, unknown.ledger_entry_id) == (False, "", 0, "")
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await lookup.FindCredit(credits_pb.FindCreditRequest(purchase_id="has space"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(bad.value) == {"purchase_id": "must be 1-128 printable ASCII characters without spaces"}


async def test_a_claim_checked_while_points_is_unreachable_is_unverified() -> None:
    unreachable = CreditLookup(f"127.0.0.1:{free_port()}", timeout_s=0.5)
    try:
        check = await unreachable.check(Claim("order-1", "", "", 0), "alice")
    finally:
        await unreachable.close()
    assert (check.status, check.credited_points, check.ledger_entry_id) == (UNVERIFIED, 0, "")


class _RefusingCreditLookup(credits_pb2_grpc.CreditLookupServiceServicer):
    """A points service whose rules for purchase ids are stricter than the tickets service's (a newer version)."""

    async def FindCredit(self, request: object, context: object) -> credits_pb.FindCreditResponse:
        raise InvalidArgument.single("purchase_id", "must not start with 'x'")


async def test_a_claim_the_points_service_refuses_is_refused_naming_the_claims_field() -> None:
    registration = Registration.of(credits_pb2_grpc, credits_pb, "CreditLookupService", _RefusingCreditLookup())
    points = GrpcServer("127.0.0.1:0", [registration])
    await points.start()
    lookup = CreditLookup(f"127.0.0.1:{points.port}")
    try:
        with pytest.raises(InvalidArgument) as refused:
            await lookup.check(Claim("x-order-1", "", "", 0), "alice")
    finally:
        await lookup.close()
        await points.stop()
    assert refused.value.message == "claim.purchase_id: must not start with 'x'"


async def test_a_partner_claim_is_checked_against_the_partner_accruals_points_recorded(
    platform: TicketsPlatform,
) -> None:
    claimant = member()
    await platform.points.EnrollMember(points_pb.EnrollMemberRequest(member_id=claimant))
    await platform.set_tier(claimant, "base")
    admin = partners_pb2_grpc.PartnerServiceStub(platform.points_channel)
    partner_id = f"air-{uuid.uuid4().hex[:6]}"
    await admin.RegisterPartner(
        partners_pb.RegisterPartnerRequest(partner_id=partner_id, name="Air", kind=partners_pb.PARTNER_KIND_AIRLINE)
    )
    since = timestamp(START - timedelta(days=400))
    rate = partners_pb.ConversionRate(unit="MILE", points_per_unit="1", effective_from=since)
    await admin.SetConversionRate(partners_pb.SetConversionRateRequest(partner_id=partner_id, rate=rate))
    key = (await admin.IssuePartnerCredential(partners_pb.IssuePartnerCredentialRequest(partner_id=partner_id))).api_key
    flight = partners_pb.AccrualRecord(
        partner_transaction_id="fl-1",
        member_id=claimant,
        activity_type=partners_pb.ACTIVITY_TYPE_FLIGHT,
        activity_date=(START - timedelta(days=2)).date().isoformat(),
        unit="MILE",
        amount="812",
    )
    intake = partners_pb2_grpc.PartnerAccrualServiceStub(platform.points_channel)
    batch = partners_pb.AccrualBatch(records=[flight])
    await intake.SubmitAccruals(batch, metadata=(("authorization", f"Bearer {key}"),))
    claim = pb.TICKET_CATEGORY_MISSING_POINTS

    def about(transaction_id: str) -> pb.OpenTicketRequest:
        return opening(
            claimant, category=claim, claim=pb.Claim(partner_id=partner_id, partner_transaction_id=transaction_id)
        )

    credited = (await platform.tickets.OpenTicket(about("fl-1"))).ticket
    check = credited.claim_check
    assert (check.status, check.credited_points) == (pb.CLAIM_STATUS_ALREADY_CREDITED, 812)
    missing = (await platform.tickets.OpenTicket(about("fl-2"))).ticket
    assert missing.claim_check.status == pb.CLAIM_STATUS_NOT_CREDITED
