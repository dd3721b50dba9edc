"""The loyalty platform's services and the kit they share."""

import os

# grpc's C core writes lines of its own to stderr (`I1207 … Handshake failed …` for every plaintext client or port
# scan on a TLS port), where the services write JSON lines only (docs/operations.md, Logs). It reads GRPC_VERBOSITY
# once, when grpc is first imported, and every entry point (`loyalty`, `python -m services.cli`) imports this
# package before anything imports grpc. An operator's own setting stands: ERROR or INFO shows those lines again.
if not os.environ.get("GRPC_VERBOSITY"):
    os.environ["GRPC_VERBOSITY"] = "NONE"
