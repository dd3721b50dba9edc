"""Codes through gRPC: validating and using redemption codes, partner pools, promo campaigns."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest
from loyalty.rewards.v1 import catalog_pb2, rewards_pb2
from loyalty.rewards.v1 import codes_pb2 as pb

from services.common import page_tokens
from services.rewards.codes import ALPHABET
from services.rewards.codes_store import withdraw
from services.rewards.perks import BirthdayJob
from tests.integration.rewards_support import RewardsWorld, reward_spec
from tests.integration.support import field_violations


async def redeemed_code(rewards_world: RewardsWorld, **reward_fields: object) -> rewards_pb2.Redemption:
    member_id = await rewards_world.member_with(100)
    reward = await rewards_world.reward(**reward_fields)
    request = rewards_pb2.RedeemRewardRequest(member_id=member_id, reward_id=reward.reward_id, idempotency_key="k")
    return (await rewards_world.rewards.RedeemReward(request)).redemption


async def test_a_code_is_validated_then_used_once_and_a_second_order_is_told_which_order_used_it(
    rewards_world: RewardsWorld,
) -> None:
    redemption = await redeemed_code(rewards_world)

    check = await rewards_world.codes.ValidateCode(pb.ValidateCodeRequest(code=f"  {redemption.code.lower()} "))
    assert (check.code, check.usable, check.member_id) == (redemption.code, True, redemption.member_id)
    assert (check.value.kind, check.value.amount.amount_minor) == (catalog_pb2.REWARD_KIND_DISCOUNT_FIXED, 500)
    assert check.expires_at == redemption.code_expires_at and check.uses_left == 1

    used = await rewards_world.codes.RedeemCode(pb.RedeemCodeRequest(code=redemption.code, order_id="order-1"))
    assert (used.duplicate, used.uses_left) == (False, 0)
    repeated = await rewards_world.codes.RedeemCode(pb.RedeemCodeRequest(code=redemption.code, order_id="order-1"))
    assert repeated.duplicate and repeated.used_at == used.used_at
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards_world.codes.RedeemCode(pb.RedeemCodeRequest(code=redemption.code, order_id="order-2"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "order-1" in (refused.value.details() or "")

    after = await rewards_world.codes.ValidateCode(pb.ValidateCodeRequest(code=redemption.code))
    assert (after.usable, after.reason, after.uses_left) == (False, "used up", 0)
    listed = await rewards_world.rewards.GetRedemption(
        rewards_pb2.GetRedemptionRequest(redemption_id=redemption.redemption_id)
    )
    assert listed.redemption.code_used_by_order_id == "order-1"
    events = await rewards_world.rewards_pool.fetch("SELECT event_type FROM outbox ORDER BY id")
    assert [e["event_type"] for e in events][-1] == "loyalty.events.v1.CodeUsed"


async def test_editing_a_reward_does_not_change_the_value_of_codes_already_issued(
    rewards_world: RewardsWorld,
) -> None:
    """A voucher is a promise: it keeps the value and name its reward had when redeemed or granted."""
    member_id = await rewards_world.member_with(300)
    reward = await rewards_world.reward()  # 5 USD off
    perk = await rewards_world.reward(
        name="Birthday 10% off",
        kind=catalog_pb2.REWARD_KIND_DISCOUNT_PERCENT,
        amount=None,
        percent_off=10,
        cost_points=0,
        trigger=catalog_pb2.REWARD_TRIGGER_BIRTHDAY,
    )

    def redeem(key: str) -> rewards_pb2.RedeemRewardRequest:
        return rewards_pb2.RedeemRewardRequest(member_id=member_id, reward_id=reward.reward_id, idempotency_key=key)

    before = (await rewards_world.rewards.RedeemReward(redeem("before"))).redemption
    await rewards_world.rewards_pool.execute(
        "INSERT INTO member_birthdays VALUES ($1, $2)", member_id, date(1990, 6, 1)
    )
    assert await BirthdayJob(rewards_world.rewards_pool).run_once(date(2027, 6, 1)) == 1
    perk_code = await rewards_world.rewards_pool.fetchval(
        "SELECT c.code FROM codes c JOIN redemptions r USING (redemption_id) WHERE r.reward_id = $1",
        uuid.UUID(perk.reward_id),
    )

    one_usd = reward_spec(name="1 USD off")
    one_usd.amount.amount_minor = 100
    await rewards_world.catalog.UpdateReward(catalog_pb2.UpdateRewardRequest(reward_id=reward.reward_id, spec=one_usd))
    five_percent = perk.spec
    five_percent.name, five_percent.percent_off = "Birthday 5% off", 5
    await rewards_world.catalog.UpdateReward(
        catalog_pb2.UpdateRewardRequest(reward_id=perk.reward_id, spec=five_percent)
    )
    after = (await rewards_world.rewards.RedeemReward(redeem("after"))).redemption

    async def value(code: str) -> tuple[int, int, str]:
        check = await rewards_world.codes.ValidateCode(pb.ValidateCodeRequest(code=code))
        assert check.usable
        return check.value.amount.amount_minor, check.value.percent_off, check.value.name

    assert await value(before.code) == (500, 0, "5 USD off")
    assert await value(perk_code) == (0, 10, "Birthday 10% off")
    assert await value(after.code) == (100, 0, "1 USD off")
    used = await rewards_world.codes.RedeemCode(pb.RedeemCodeRequest(code=before.code, order_id="order-1"))
    assert (used.value.amount.amount_minor, used.value.amount.currency_code) == (500, "USD")


async def test_50_concurrent_uses_of_one_code_exactly_one_succeeds(rewards_world: RewardsWorld) -> None:
    redemption = await redeemed_code(rewards_world)

    async def use(order: int) -> grpc.StatusCode:
        try:
            await rewards_world.codes.RedeemCode(pb.RedeemCodeRequest(code=redemption.code, order_id=f"order-{order}"))
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    outcomes = Counter(await asyncio.gather(*(use(n) for n in range(50))))
    assert outcomes == {grpc.StatusCode.OK: 1, grpc.StatusCode.FAILED_PRECONDITION: 49}
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM code_uses") == 1


async def test_unknown_and_blank_codes(rewards_world: RewardsWorld) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await rewards_world.codes.ValidateCode(pb.ValidateCodeRequest(code="ABCDEFGHJKMN"))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as blank:
        await rewards_world.codes.RedeemCode(pb.RedeemCodeRequest(code=" ", order_id="o"))
    assert blank.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "code" in (blank.value.details() or "")


async def test_partner_pool_codes_are_issued_until_the_pool_runs_out(rewards_world: RewardsWorld) -> None:
    reward = await rewards_world.reward(code_source=catalog_pb2.CODE_SOURCE_PARTNER_POOL)
    added = await rewards_world.catalog.AddPartnerCodes(
        catalog_pb2.AddPartnerCodesRequest(reward_id=reward.reward_id, codes=["PARTNER-0001", "PARTNER-0001"])
    )
    assert (added.added, added.duplicates) == (1, 1)
    with pytest.raises(grpc.aio.AioRpcError) as unissued:
        await rewards_world.codes.ValidateCode(pb.ValidateCodeRequest(code="PARTNER-0001"))
    assert unissued.value.code() == grpc.StatusCode.NOT_FOUND

    first, second = await rewards_world.member_with(100), await rewards_world.member_with(100)
    issued = await rewards_world.rewards.RedeemReward(
        rewards_pb2.RedeemRewardRequest(member_id=first, reward_id=reward.reward_id, idempotency_key="a")
    )
    assert issued.redemption.code == "PARTNER-0001"
    with pytest.raises(grpc.aio.AioRpcError) as exhausted:
        await rewards_world.rewards.RedeemReward(
            rewards_pb2.RedeemRewardRequest(member_id=second, reward_id=reward.reward_id, idempotency_key="b")
        )
    assert exhausted.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (await rewards_world.balance(second)).available == 100


def campaign_request(count: int, uses: int, key: str | None = None) -> pb.CreatePromoCampaignRequest:
    return pb.CreatePromoCampaignRequest(
        name="Summer sale",
        value=pb.CodeValue(kind=catalog_pb2.REWARD_KIND_DISCOUNT_PERCENT, percent_off=15),
        code_count=count,
        uses_per_code=uses,
        idempotency_key=key or uuid.uuid4().hex,
    )


async def test_a_promo_campaign_generates_100000_unique_codes_in_one_call(rewards_world: RewardsWorld) -> None:
    created = await rewards_world.codes.CreatePromoCampaign(campaign_request(100_000, 1, key="summer"), timeout=120)
    campaign = created.campaign
    assert (campaign.code_count, created.duplicate) == (100_000, False)
    row = await rewards_world.rewards_pool.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT code) AS distinct_codes FROM codes WHERE campaign_id = $1",
        uuid.UUID(campaign.campaign_id),
    )
    assert (row["n"], row["distinct_codes"]) == (100_000, 100_000)

    again = await rewards_world.codes.CreatePromoCampaign(campaign_request(100_000, 1, key="summer"))
    assert again.duplicate and again.campaign.campaign_id == campaign.campaign_id

    seen: list[str] = []
    token = ""
    while True:
        page = await rewards_world.codes.ListPromoCodes(
            pb.ListPromoCodesRequest(campaign_id=campaign.campaign_id, page_size=10_000, page_token=token)
        )
        seen += page.codes
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 100_000
    assert all(set(code) <= set(ALPHABET) for code in seen[:1000])


async def test_a_promo_code_is_used_as_many_times_as_the_campaign_allows(rewards_world: RewardsWorld) -> None:
    campaign = (await rewards_world.codes.CreatePromoCampaign(campaign_request(3, 2))).campaign
    code = (await rewards_world.codes.ListPromoCodes(pb.ListPromoCodesRequest(campaign_id=campaign.campaign_id))).codes[
        0
    ]
    for order in ("o-1", "o-2"):
        await rewards_world.codes.RedeemCode(pb.RedeemCodeRequest(code=code, order_id=order))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards_world.codes.RedeemCode(pb.RedeemCodeRequest(code=code, order_id="o-3"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    check = await rewards_world.codes.ValidateCode(pb.ValidateCodeRequest(code=code))
    assert (check.campaign_id, check.value.percent_off, check.value.name) == (campaign.campaign_id, 15, "Summer sale")


async def test_campaign_requests_are_validated_field_by_field(rewards_world: RewardsWorld) -> None:
    request = campaign_request(0, 0)
    request.value.percent_off = 0
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await rewards_world.codes.CreatePromoCampaign(request)
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for field in ("code_count", "uses_per_code", "value.percent_off"):
        assert field in (invalid.value.details() or "")
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM promo_campaigns") == 0


async def test_a_campaign_of_a_kind_number_no_reward_kind_has_is_refused(rewards_world: RewardsWorld) -> None:
    for number in (99, -1):
        request = campaign_request(3, 1)
        request.value.kind = number  # protobuf keeps any int32 in an enum field
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await rewards_world.codes.CreatePromoCampaign(request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        violations = field_violations(refused.value)
        assert list(violations) == ["value.kind"], violations
        assert violations["value.kind"].startswith(f"'{number}' must be one of REWARD_KIND_DISCOUNT_FIXED")
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM promo_campaigns") == 0


async def test_a_campaign_ending_before_it_is_created_is_refused_but_a_retry_after_its_end_still_answers(
    rewards_world: RewardsWorld,
) -> None:
    ended = campaign_request(3, 1)
    ended.valid_until.FromDatetime(datetime.now(UTC) - timedelta(minutes=1))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards_world.codes.CreatePromoCampaign(ended)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == {"valid_until": "must be in the future: no code could be used"}
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM promo_campaigns") == 0

    ending = campaign_request(3, 1)
    ending.valid_until.FromDatetime(datetime.now(UTC) + timedelta(seconds=2))
    created = (await rewards_world.codes.CreatePromoCampaign(ending)).campaign
    await asyncio.sleep(2.5)
    again = await rewards_world.codes.CreatePromoCampaign(ending)  # a retry after the campaign ended
    assert (again.campaign.campaign_id, again.duplicate) == (created.campaign_id, True)


async def test_bad_fields_are_named_together_and_currencies_are_iso_4217(rewards_world: RewardsWorld) -> None:
    campaign = (await rewards_world.codes.CreatePromoCampaign(campaign_request(3, 1))).campaign
    fixed = campaign_request(3, 1)
    fixed.value.CopyFrom(pb.CodeValue(kind=catalog_pb2.REWARD_KIND_DISCOUNT_FIXED))
    fixed.value.amount.amount_minor, fixed.value.amount.currency_code = 500, "ZZZ"
    calls = [
        (
            rewards_world.rewards.RedeemReward(rewards_pb2.RedeemRewardRequest()),
            {"member_id", "idempotency_key", "reward_id"},
        ),
        (
            rewards_world.codes.ListPromoCodes(
                pb.ListPromoCodesRequest(campaign_id=campaign.campaign_id, page_token="garbage")
            ),
            {"page_token"},
        ),
        (rewards_world.codes.CreatePromoCampaign(fixed), {"value.amount.currency_code"}),
        (
            rewards_world.catalog.CreateReward(catalog_pb2.CreateRewardRequest(spec=zzz_voucher())),
            {"spec.amount.currency_code"},
        ),
    ]
    calls.append((rewards_world.catalog.UpdateReward(catalog_pb2.UpdateRewardRequest()), {"reward_id", "spec"}))
    calls.append((rewards_world.codes.RedeemCode(pb.RedeemCodeRequest()), {"code", "order_id"}))
    calls.append((rewards_world.codes.RedeemCode(pb.RedeemCodeRequest(code="X", order_id=" ")), {"order_id"}))
    calls.append(
        (rewards_world.rewards.CancelRedemption(rewards_pb2.CancelRedemptionRequest()), {"redemption_id", "reason"})
    )
    calls.append((rewards_world.catalog.AddPartnerCodes(catalog_pb2.AddPartnerCodesRequest()), {"reward_id", "codes"}))
    ancient = page_tokens.issue(["", "False"], ["0001-01-01T00:00:00+05:00", str(uuid.uuid4())])
    # A time the database could not take once in UTC: the token was not made here.
    listed_after = catalog_pb2.ListRewardsRequest(page_token=ancient)
    calls.append((rewards_world.catalog.ListRewards(listed_after), {"page_token"}))
    for call, fields in calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(refused.value)) == fields


def zzz_voucher() -> catalog_pb2.RewardSpec:
    spec = reward_spec()
    spec.amount.currency_code = "ZZZ"
    return spec


async def test_the_count_of_a_pools_codes_follows_every_write(rewards_world: RewardsWorld) -> None:
    """Kept with the reward by the database, whoever writes codes: adding, issuing, withdrawing, deleting."""
    reward = await rewards_world.reward(code_source=catalog_pb2.CODE_SOURCE_PARTNER_POOL)
    pool = rewards_world.rewards_pool

    async def shown_and_counted() -> tuple[int, int]:
        shown = await rewards_world.catalog.GetReward(catalog_pb2.GetRewardRequest(reward_id=reward.reward_id))
        counted = await pool.fetchval(
            "SELECT count(*) FROM codes WHERE reward_id = $1 AND status = 'available'", uuid.UUID(reward.reward_id)
        )
        return shown.reward.partner_codes_available, counted

    codes = ["POOL-0001", "POOL-0002", "POOL-0003"]
    await rewards_world.catalog.AddPartnerCodes(
        catalog_pb2.AddPartnerCodesRequest(reward_id=reward.reward_id, codes=codes)
    )
    assert await shown_and_counted() == (3, 3)
    member = await rewards_world.member_with(100)
    redeemed = await rewards_world.rewards.RedeemReward(
        rewards_pb2.RedeemRewardRequest(member_id=member, reward_id=reward.reward_id, idempotency_key="a")
    )
    assert await shown_and_counted() == (2, 2)
    async with pool.acquire() as connection:  # an undone redemption's code goes back to the pool
        await withdraw(connection, uuid.UUID(redeemed.redemption.redemption_id))
    assert await shown_and_counted() == (3, 3)
    await pool.execute("DELETE FROM codes WHERE code = ANY($1::text[])", codes[:2])  # an operator's correction
    assert await shown_and_counted() == (1, 1)
