import os

# The tests fork only to exec (PostgreSQL, the broker, the services), so gRPC's fork handlers serve
# nothing; with other threads inside gRPC they are skipped or crash the forked child
# (a segfault during the fault suite's PostgreSQL restart; grpc/grpc#29044). Set before gRPC loads.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
