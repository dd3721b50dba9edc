"""What `loyalty dev` prints once the platform is up: where everything is, and how to run a service yourself."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from services.common.embedded import LOOPBACK
from services.common.settings import SERVICE_NAMES
from services.dev_seed import DEMO_PURCHASE_ID

# Set for dev, they are for the service too; their values are secrets (a file's path is named along with them).
AUTH_VARIABLES = ("LOYALTY_AUTH_TOKENS", "LOYALTY_AUTH_TOKENS_FILE", "LOYALTY_CALLER_TOKEN")

if TYPE_CHECKING:
    from services.dev import Platform


def describe(platform: Platform) -> str:
    """What a person needs to use the running platform."""
    rows = ["", f"Loyalty platform is running. Data: {platform.data_dir}", ""]
    tls = "  (TLS)" if platform.grpc_tls.serves_tls else ""
    rows += [f"  gRPC        {name:<8} {platform.grpc_address(name)}{tls}" for name in SERVICE_NAMES]
    if metrics := platform.metrics_ports:
        ports = ", ".join(f"{name} {port}" for name, port in metrics.items())
        rows.append(f"  Metrics     http://{LOOPBACK}:<port>/metrics  ({ports})")
    if platform.dashboard_port:
        rows.append(f"  Dashboard   {platform.dashboard_url}  (insights: KPIs, liability, tiers, service scores)")
    rows.append(f"  Kafka       {platform.kafka_bootstrap}  (embedded Tansu: in memory, empty after a restart)")
    rows += [f"  PostgreSQL  {name:<8} {platform.database_url(name)}" for name in SERVICE_NAMES]
    postgres_log = f"; PostgreSQL log {platform.postgres.log_path}" if platform.postgres else ""
    rows.append(f"  Logs        {platform.log_dir}/{{{','.join(SERVICE_NAMES)},broker}}.log{postgres_log}")
    if platform.demo_balances:
        balances = ", ".join(f"{member} has {points} points" for member, points in platform.demo_balances.items())
        rows += ["", f"Demo: {balances} (purchase {DEMO_PURCHASE_ID}: 42.50 USD)."]
    elif platform.seed_refused:
        rows += ["", f"Demo not seeded: {platform.seed_refused}."]
    rows += ["", "To run a service yourself against this platform (stop dev's copy or change its port):"]
    rows += _serve_yourself(platform, "points")
    rows += ["", "Press Ctrl-C to stop everything."]
    return "\n".join(rows)


def _serve_yourself(platform: Platform, service: str) -> list[str]:
    """The exports that make `loyalty serve <service>` join the platform: its metrics port as well, and the token
    variables dev runs with named, not shown (they hold secrets), lest the copy accept every caller."""
    env = {key: value for key, value in platform.env_for(service).items() if key not in AUTH_VARIABLES}
    env[f"LOYALTY_{service.upper()}_METRICS_PORT"] = str(platform.metrics_ports.get(service, 0))
    rows = [f"  export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    if auth := [name for name in AUTH_VARIABLES if platform.client_env.get(name)]:
        rows.append(f"  # and set {', '.join(auth)} as for dev (not shown: they hold secrets)")
    return [*rows, f"  loyalty serve {service}"]
