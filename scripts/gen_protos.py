"""Generate the Python protobuf and gRPC code from protos/ into gen/.

    python scripts/gen_protos.py          # regenerate
    python scripts/gen_protos.py --check  # exit 1 if gen/ is stale (CI)

The output depends only on protos/ and the pinned grpcio-tools version, so the
committed code is reproducible.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "gen"


def generate(out: Path) -> None:
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Every directory becomes a regular package so mypy and setuptools see it.
    for directory in [out / "loyalty", *(p for p in (out / "loyalty").rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()


def tree_differs(left: Path, right: Path) -> list[str]:
    comparison = filecmp.dircmp(left, right)
    stale = [*comparison.left_only, *comparison.right_only, *comparison.diff_files]
    for name in comparison.common_dirs:
        stale += [f"{name}/{d}" for d in tree_differs(left / name, right / name)]
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if gen/ is stale")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        if check:
            stale = tree_differs(fresh / "loyalty", OUT / "loyalty") if OUT.exists() else ["gen/"]
            stale = [s for s in stale if s != "__pycache__" and not s.endswith("/__pycache__")]
            if stale:
                print("generated code is stale; run: python scripts/gen_protos.py", file=sys.stderr)
                print("\n".join(f"  {s}" for s in stale), file=sys.stderr)
                return 1
            print("generated code is up to date")
            return 0
        shutil.rmtree(OUT / "loyalty", ignore_errors=True)
        OUT.mkdir(exist_ok=True)
        shutil.copytree(fresh / "loyalty", OUT / "loyalty")
    print(f"generated into {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
