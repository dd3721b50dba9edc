"""Settings only the insights service reads (the README lists them with the others)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from services.common.currencies import currency_refusal, minor_unit_exponent
from services.common.settings import SettingsError, _integer

DEFAULT_DASHBOARD_PORT = 8094


@dataclass(frozen=True)
class InsightsSettings:
    # Where the dashboard answers over HTTP (on LOYALTY_GRPC_HOST); 0 serves none.
    dashboard_port: int
    # The program's currency: revenue counts purchases in it, the liability is stated in it.
    currency: str
    # What one outstanding point costs the program when redeemed, in that currency.
    cost_per_point: Decimal

    @property
    def currency_exponent(self) -> int:
        return minor_unit_exponent(self.currency)


def insights_settings(env: Mapping[str, str] = os.environ) -> InsightsSettings:
    currency = env.get("LOYALTY_INSIGHTS_CURRENCY") or "USD"
    if refusal := currency_refusal(currency):
        raise SettingsError(f"LOYALTY_INSIGHTS_CURRENCY: {refusal}")
    raw_cost = env.get("LOYALTY_INSIGHTS_COST_PER_POINT") or "0.01"
    try:
        cost = Decimal(raw_cost)
    except InvalidOperation:
        raise SettingsError(f"LOYALTY_INSIGHTS_COST_PER_POINT must be a decimal number, got {raw_cost!r}") from None
    if not cost.is_finite() or cost < 0:
        raise SettingsError(f"LOYALTY_INSIGHTS_COST_PER_POINT must be zero or more, got {raw_cost!r}")
    return InsightsSettings(
        dashboard_port=_integer(env, "LOYALTY_INSIGHTS_DASHBOARD_PORT", DEFAULT_DASHBOARD_PORT),
        currency=currency,
        cost_per_point=cost,
    )
