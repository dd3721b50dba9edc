"""The catalog through gRPC: validation, updates, archiving, listing what a member can redeem now."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from loyalty.rewards.v1 import catalog_pb2 as pb
from loyalty.rewards.v1 import codes_pb2, rewards_pb2

from services.common.errors import InvalidArgument
from services.common.events import timestamp
from services.common.member_tiers import tier_of
from tests.integration.rewards_support import RewardsWorld, reward_spec
from tests.integration.support import field_violations


async def test_a_reward_is_created_read_back_updated_and_archived(rewards_world: RewardsWorld) -> None:
    created = await rewards_world.reward(stock_total=5, name="Free coffee")
    assert created.status == pb.REWARD_STATUS_ACTIVE and created.stock_available == 5
    fetched = (await rewards_world.catalog.GetReward(pb.GetRewardRequest(reward_id=created.reward_id))).reward
    assert fetched.spec == created.spec

    member_id = await rewards_world.member_with(100)
    await rewards_world.rewards.RedeemReward(
        rewards_pb2.RedeemRewardRequest(member_id=member_id, reward_id=created.reward_id, idempotency_key="k")
    )
    updated = await rewards_world.catalog.UpdateReward(
        pb.UpdateRewardRequest(reward_id=created.reward_id, spec=reward_spec(stock_total=8))
    )
    assert updated.reward.stock_available == 7  # the unit already issued stays issued
    with pytest.raises(grpc.aio.AioRpcError) as below_issued:
        await rewards_world.catalog.UpdateReward(
            pb.UpdateRewardRequest(reward_id=created.reward_id, spec=reward_spec(stock_total=0))
        )
    assert below_issued.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    archived = await rewards_world.catalog.ArchiveReward(pb.ArchiveRewardRequest(reward_id=created.reward_id))
    assert archived.reward.status == pb.REWARD_STATUS_ARCHIVED
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards_world.rewards.RedeemReward(
            rewards_pb2.RedeemRewardRequest(member_id=member_id, reward_id=created.reward_id, idempotency_key="k2")
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_an_invalid_reward_names_every_field_and_writes_nothing(rewards_world: RewardsWorld) -> None:
    spec = pb.RewardSpec(cost_points=-1, min_tier="platinum", per_member_limit=2)
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await rewards_world.catalog.CreateReward(pb.CreateRewardRequest(spec=spec))
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = invalid.value.details() or ""
    for field in ("spec.name", "spec.kind", "spec.trigger", "spec.cost_points", "spec.min_tier", "spec.limit_period"):
        assert field in details
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM rewards") == 0


async def _refused_fields(call: Awaitable[object]) -> dict[str, str]:
    """The field violations of a call that must answer INVALID_ARGUMENT."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    return field_violations(refused.value)


async def test_a_number_no_enum_value_has_is_refused_naming_the_field_and_writes_nothing(
    rewards_world: RewardsWorld,
) -> None:
    # protobuf keeps any int32 in an enum field (open enums): read as unspecified, limit_period=99 became no limit.
    kept = await rewards_world.reward(name="kept")
    for field in ("kind", "limit_period", "code_source", "trigger"):
        for number in (99, -1):
            spec = reward_spec(name="r", cost_points=1, **{field: number})
            create = rewards_world.catalog.CreateReward(pb.CreateRewardRequest(spec=spec))
            update = rewards_world.catalog.UpdateReward(pb.UpdateRewardRequest(reward_id=kept.reward_id, spec=spec))
            for call in (create, update):
                violations = await _refused_fields(call)
                assert list(violations) == [f"spec.{field}"], violations
                assert violations[f"spec.{field}"].startswith(f"'{number}' must be one of "), violations
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM rewards") == 1
    got = await rewards_world.catalog.GetReward(pb.GetRewardRequest(reward_id=kept.reward_id))
    assert got.reward == kept


@pytest.mark.parametrize(
    "tiers",
    [["A B"], ["😀"], ["NaN"], ["gold", ""], ["gold", "gold"], [f"t{n}" for n in range(10_000)]],
    ids=["space", "emoji", "upper-case", "empty", "twice", "10k"],
)
async def test_a_ladder_of_names_no_program_tier_can_have_is_refused(
    rewards_world: RewardsWorld, tiers: list[str]
) -> None:
    await rewards_world.catalog.SetTierLadder(pb.SetTierLadderRequest(tiers=["base", "gold"]))

    violations = await _refused_fields(rewards_world.catalog.SetTierLadder(pb.SetTierLadderRequest(tiers=tiers)))

    assert violations and all(field.startswith("tiers") for field in violations), violations
    assert len(str(violations)) < 2000  # one violation for a ladder too long, not one per entry
    assert await rewards_world.rewards_pool.fetch("SELECT tier FROM tier_ladder ORDER BY rank") == [
        ("base",),
        ("gold",),
    ]


async def test_a_ladder_as_long_as_a_program_may_have_is_kept(rewards_world: RewardsWorld) -> None:
    tiers = [f"level-{n:02}" for n in range(20)]
    assert list((await rewards_world.catalog.SetTierLadder(pb.SetTierLadderRequest(tiers=tiers))).tiers) == tiers


@pytest.mark.parametrize(
    ("fields", "refused"),
    [
        ({"trigger": pb.REWARD_TRIGGER_TIER_WELCOME, "cost_points": 0, "trigger_tier": "A B"}, "spec.trigger_tier"),
        ({"sku": "\t"}, "spec.sku"),
        ({"partner": " "}, "spec.partner"),
        ({"name": "\u200b"}, "spec.name"),
        ({"name": "\ufeff \u2060"}, "spec.name"),
    ],
    ids=["trigger_tier", "sku-tab", "partner-space", "name-zero-width-space", "name-invisible"],
)
async def test_a_field_blank_to_the_eye_or_no_tier_name_is_refused(
    rewards_world: RewardsWorld, fields: dict[str, object], refused: str
) -> None:
    # A DISCOUNT_FIXED voucher: sku and partner must be empty; a blank one is still set.
    violations = await _refused_fields(
        rewards_world.catalog.CreateReward(pb.CreateRewardRequest(spec=reward_spec(**fields)))
    )

    assert list(violations) == [refused], violations
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM rewards") == 0


async def test_listing_for_a_member_shows_only_what_it_can_redeem_now(rewards_world: RewardsWorld) -> None:
    await rewards_world.catalog.SetTierLadder(pb.SetTierLadderRequest(tiers=["base", "gold"]))
    now = datetime.now(UTC)
    affordable = await rewards_world.reward(name="affordable", cost_points=100)
    await rewards_world.reward(name="too dear", cost_points=1000)
    await rewards_world.reward(name="gold only", min_tier="gold")
    await rewards_world.reward(name="sold out", stock_total=0)
    await rewards_world.reward(name="not yet", valid_from=timestamp(now + timedelta(days=1)))
    await rewards_world.reward(
        name="perk", trigger=pb.REWARD_TRIGGER_BIRTHDAY, cost_points=0, code_source=pb.CODE_SOURCE_GENERATED
    )
    member_id = await rewards_world.member_with(500)

    listed = await rewards_world.catalog.ListRewards(pb.ListRewardsRequest(member_id=member_id))
    assert [r.reward_id for r in listed.rewards] == [affordable.reward_id]
    assert not affordable.spec.HasField("stock_total") and not affordable.HasField("stock_available")  # unlimited

    everything = await rewards_world.catalog.ListRewards(pb.ListRewardsRequest(page_size=4))
    rest = await rewards_world.catalog.ListRewards(
        pb.ListRewardsRequest(page_size=4, page_token=everything.next_page_token)
    )
    assert len(everything.rewards) + len(rest.rewards) == 6 and not rest.next_page_token
    # The token of the whole catalog's listing is no position in the member's: refused, not read part-way.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards_world.catalog.ListRewards(
            pb.ListRewardsRequest(member_id=member_id, page_token=everything.next_page_token)
        )
    assert set(field_violations(refused.value)) == {"page_token"}


async def test_cancelling_returns_points_and_stock_and_voids_the_code(rewards_world: RewardsWorld) -> None:
    member_id = await rewards_world.member_with(300)
    reward = await rewards_world.reward(stock_total=1)
    redemption = (
        await rewards_world.rewards.RedeemReward(
            rewards_pb2.RedeemRewardRequest(member_id=member_id, reward_id=reward.reward_id, idempotency_key="k")
        )
    ).redemption
    # Longer than the points service takes for an adjustment reason: it is shortened on the way.
    reason = "the member changed their mind " * 16
    request = rewards_pb2.CancelRedemptionRequest(redemption_id=redemption.redemption_id, reason=reason)

    cancelled = (await rewards_world.rewards.CancelRedemption(request)).redemption
    again = (await rewards_world.rewards.CancelRedemption(request)).redemption

    assert cancelled.status == again.status == rewards_pb2.REDEMPTION_STATUS_CANCELLED
    assert (await rewards_world.balance(member_id)).available == 300
    assert (
        await rewards_world.catalog.GetReward(pb.GetRewardRequest(reward_id=reward.reward_id))
    ).reward.stock_available == 1
    check = await rewards_world.codes.ValidateCode(codes_pb2.ValidateCodeRequest(code=redemption.code))
    assert (check.usable, check.reason, check.uses_left) == (False, "cancelled", 0)
    events = await rewards_world.rewards_pool.fetch("SELECT event_type FROM outbox ORDER BY id")
    assert [e["event_type"].rsplit(".", 1)[1] for e in events] == ["RewardRedeemed", "RedemptionCancelled"]
    listed = await rewards_world.rewards.ListRedemptions(rewards_pb2.ListRedemptionsRequest(member_id=member_id))
    assert [r.status for r in listed.redemptions] == [rewards_pb2.REDEMPTION_STATUS_CANCELLED]


async def test_a_used_code_cannot_be_cancelled(rewards_world: RewardsWorld) -> None:
    member_id = await rewards_world.member_with(100)
    reward = await rewards_world.reward()
    redemption = (
        await rewards_world.rewards.RedeemReward(
            rewards_pb2.RedeemRewardRequest(member_id=member_id, reward_id=reward.reward_id, idempotency_key="k")
        )
    ).redemption
    await rewards_world.codes.RedeemCode(codes_pb2.RedeemCodeRequest(code=redemption.code, order_id="o-1"))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards_world.rewards.CancelRedemption(
            rewards_pb2.CancelRedemptionRequest(redemption_id=redemption.redemption_id, reason="too late")
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await rewards_world.balance(member_id)).available == 0


async def test_a_huge_id_is_refused_as_invalid_not_lost_to_the_metadata_limit(rewards_world: RewardsWorld) -> None:
    huge = "x" * 20_000
    calls = [
        rewards_world.catalog.GetReward(pb.GetRewardRequest(reward_id=huge)),
        rewards_world.rewards.GetRedemption(rewards_pb2.GetRedemptionRequest(redemption_id=huge)),
        rewards_world.codes.ListPromoCodes(codes_pb2.ListPromoCodesRequest(campaign_id=huge)),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert len(refused.value.details() or "") <= 2000


async def test_the_tier_view_refuses_a_malformed_member_id(rewards_world: RewardsWorld) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await tier_of(rewards_world.rewards_pool, "y" * 200)
    assert [v.field for v in refused.value.violations] == ["member_id"]
