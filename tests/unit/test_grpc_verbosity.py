"""grpc's C core is silent unless the operator asks for its lines: its own stderr lines are not JSON."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHOW = "import os, services, grpc; print(os.environ['GRPC_VERBOSITY'])"


@pytest.mark.parametrize(("given", "used"), [(None, "NONE"), ("", "NONE"), ("ERROR", "ERROR"), ("info", "info")])
def test_grpc_verbosity_is_none_unless_the_operator_set_it(given: str | None, used: str) -> None:
    env = {name: value for name, value in os.environ.items() if name != "GRPC_VERBOSITY"}
    if given is not None:
        env["GRPC_VERBOSITY"] = given
    shown = subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, check=True)
    assert shown.stdout == f"{used}\n"
