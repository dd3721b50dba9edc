"""gRPC servicer for loyalty.rewards.v1.CodesService."""

from __future__ import annotations

from typing import Any

import grpc
from loyalty.rewards.v1 import codes_pb2 as pb
from loyalty.rewards.v1 import codes_pb2_grpc

from services.common.errors import Violations
from services.common.proto_time import optional_time
from services.rewards.codes import CodeRow, cancelled
from services.rewards.codes_application import CampaignRequest, CodesApplication
from services.rewards.codes_store import Campaign
from services.rewards.messages import code_value_message, set_time, value_from


def _uses_left(code: CodeRow) -> int:
    """Uses a code still has: none once it is void or its redemption was cancelled."""
    if cancelled(code):
        return 0
    return max(code.max_uses - code.uses, 0)


def _campaign_message(campaign: Campaign) -> pb.PromoCampaign:
    message = pb.PromoCampaign(
        campaign_id=campaign.campaign_id,
        name=campaign.name,
        value=code_value_message(campaign.value, campaign.name),
        code_count=campaign.code_count,
        uses_per_code=campaign.uses_per_code,
    )
    for field in ("valid_from", "valid_until", "created_at"):
        set_time(message, field, getattr(campaign, field))
    return message


class CodesServicer(codes_pb2_grpc.CodesServiceServicer):
    def __init__(self, codes: CodesApplication) -> None:
        self._codes = codes

    async def ValidateCode(
        self, request: pb.ValidateCodeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ValidateCodeResponse:
        check = await self._codes.validate(request.code)
        code = check.code
        response = pb.ValidateCodeResponse(
            code=code.code,
            usable=check.refusal is None,
            reason=check.refusal or "",
            value=code_value_message(code.value, code.name),
            member_id=code.member_id,
            redemption_id=code.redemption_id,
            campaign_id=code.campaign_id,
            uses_left=_uses_left(code),
        )
        set_time(response, "valid_from", code.valid_from)
        set_time(response, "expires_at", code.expires_at)
        return response

    async def RedeemCode(
        self, request: pb.RedeemCodeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RedeemCodeResponse:
        use = await self._codes.redeem(request.code, request.order_id)
        response = pb.RedeemCodeResponse(
            code=use.code.code,
            value=code_value_message(use.code.value, use.code.name),
            member_id=use.code.member_id,
            uses_left=_uses_left(use.code),
            duplicate=use.duplicate,
        )
        set_time(response, "used_at", use.used_at)
        return response

    async def CreatePromoCampaign(
        self, request: pb.CreatePromoCampaignRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CreatePromoCampaignResponse:
        violations = Violations()
        value = value_from(violations, "value.", request.value)
        violations.raise_if_any()
        campaign, duplicate = await self._codes.create_campaign(
            CampaignRequest(
                name=request.name,
                value=value,
                code_count=request.code_count,
                uses_per_code=request.uses_per_code,
                valid_from=optional_time(request, "valid_from"),
                valid_until=optional_time(request, "valid_until"),
                idempotency_key=request.idempotency_key,
            )
        )
        return pb.CreatePromoCampaignResponse(campaign=_campaign_message(campaign), duplicate=duplicate)

    async def ListPromoCodes(
        self, request: pb.ListPromoCodesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListPromoCodesResponse:
        page, next_token = await self._codes.promo_codes(request.campaign_id, request.page_size, request.page_token)
        return pb.ListPromoCodesResponse(codes=page, next_page_token=next_token)
