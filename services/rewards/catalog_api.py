"""gRPC servicer for loyalty.rewards.v1.CatalogService."""

from __future__ import annotations

from typing import Any

import grpc
from loyalty.rewards.v1 import catalog_pb2 as pb
from loyalty.rewards.v1 import catalog_pb2_grpc

from services.common.errors import Violations
from services.rewards import paging
from services.rewards.catalog import CatalogApplication
from services.rewards.messages import reward_message, spec_from


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, catalog: CatalogApplication) -> None:
        self._catalog = catalog

    async def CreateReward(
        self, request: pb.CreateRewardRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CreateRewardResponse:
        reward = await self._catalog.create(spec_from(request.spec))
        return pb.CreateRewardResponse(reward=reward_message(reward))

    async def UpdateReward(
        self, request: pb.UpdateRewardRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.UpdateRewardResponse:
        if not request.HasField("spec"):
            # An empty spec would be refused field by field, for terms that cannot change: name what is missing.
            violations = Violations()
            paging.check_id(violations, "reward_id", request.reward_id)
            violations.add("spec", "is required: the reward's whole new spec")
            violations.raise_if_any()
        reward = await self._catalog.update(request.reward_id, spec_from(request.spec))
        return pb.UpdateRewardResponse(reward=reward_message(reward))

    async def ArchiveReward(
        self, request: pb.ArchiveRewardRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ArchiveRewardResponse:
        return pb.ArchiveRewardResponse(reward=reward_message(await self._catalog.archive(request.reward_id)))

    async def GetReward(
        self, request: pb.GetRewardRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetRewardResponse:
        return pb.GetRewardResponse(reward=reward_message(await self._catalog.get(request.reward_id)))

    async def ListRewards(
        self, request: pb.ListRewardsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListRewardsResponse:
        rewards, next_token = await self._catalog.listing(
            request.member_id, request.include_archived, request.page_size, request.page_token
        )
        return pb.ListRewardsResponse(rewards=[reward_message(r) for r in rewards], next_page_token=next_token)

    async def AddPartnerCodes(
        self, request: pb.AddPartnerCodesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.AddPartnerCodesResponse:
        added, duplicates = await self._catalog.add_partner_codes(request.reward_id, list(request.codes))
        return pb.AddPartnerCodesResponse(added=added, duplicates=duplicates)

    async def SetTierLadder(
        self, request: pb.SetTierLadderRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.SetTierLadderResponse:
        return pb.SetTierLadderResponse(tiers=await self._catalog.set_ladder(list(request.tiers)))
