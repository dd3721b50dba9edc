"""gRPC servicer for loyalty.rewards.v1.RewardsService: redemptions and perks."""

from __future__ import annotations

from typing import Any

import grpc
from loyalty.rewards.v1 import rewards_pb2 as pb
from loyalty.rewards.v1 import rewards_pb2_grpc

from services.rewards.messages import redemption_message
from services.rewards.redemption import RedemptionApplication


class RewardsServicer(rewards_pb2_grpc.RewardsServiceServicer):
    def __init__(self, redemptions: RedemptionApplication) -> None:
        self._redemptions = redemptions

    async def RedeemReward(
        self, request: pb.RedeemRewardRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RedeemRewardResponse:
        row, duplicate = await self._redemptions.redeem(request.member_id, request.reward_id, request.idempotency_key)
        return pb.RedeemRewardResponse(redemption=redemption_message(row), duplicate=duplicate)

    async def GetRedemption(
        self, request: pb.GetRedemptionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetRedemptionResponse:
        row = await self._redemptions.get(request.redemption_id)
        return pb.GetRedemptionResponse(redemption=redemption_message(row))

    async def ListRedemptions(
        self, request: pb.ListRedemptionsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListRedemptionsResponse:
        rows, next_token = await self._redemptions.for_member(request.member_id, request.page_size, request.page_token)
        return pb.ListRedemptionsResponse(
            redemptions=[redemption_message(row) for row in rows], next_page_token=next_token
        )

    async def CancelRedemption(
        self, request: pb.CancelRedemptionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CancelRedemptionResponse:
        row = await self._redemptions.cancel(request.redemption_id, request.reason)
        return pb.CancelRedemptionResponse(redemption=redemption_message(row))
