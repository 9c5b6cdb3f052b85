#!/usr/bin/env python3
"""Compile contracts/*.sol with solcjs (npm package ``solc``) into src/livefeed/chain/artifacts/<Name>.json.

The artifacts (ABI + creation bytecode) are committed, so tests and the demo never need a compiler. Run this only
after editing a contract::

    npm install --prefix /tmp/solcjs solc@0.8.28
    SOLCJS=/tmp/solcjs/node_modules/.bin/solcjs python scripts/build_contracts.py

Without ``SOLCJS`` it uses ``solcjs`` from PATH, else ``npx --yes solc@0.8.28``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "contracts"
OUT = ROOT / "src" / "livefeed" / "chain" / "artifacts"
SOLC_VERSION = "0.8.28"


def solcjs_command() -> list[str]:
    if os.environ.get("SOLCJS"):
        return [os.environ["SOLCJS"]]
    if shutil.which("solcjs"):
        return ["solcjs"]
    return ["npx", "--yes", f"solc@{SOLC_VERSION}"]


def main() -> int:
    sources = {p.name: {"content": p.read_text()} for p in sorted(SOURCES.glob("*.sol"))}
    request = {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": "paris",  # no PUSH0 etc.: runs on any anvil hardfork
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    cmd = [*solcjs_command(), "--standard-json"]
    done = subprocess.run(cmd, input=json.dumps(request), capture_output=True, text=True, check=True)
    # solcjs may print warnings before the JSON document.
    output = json.loads(done.stdout[done.stdout.index("{"):])
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    for e in output.get("errors", []):
        print(e["formattedMessage"], file=sys.stderr)
    if errors:
        return 1
    version = subprocess.run([*solcjs_command(), "--version"], capture_output=True, text=True).stdout.strip()
    OUT.mkdir(parents=True, exist_ok=True)
    for file_name, contracts in output["contracts"].items():
        for name, c in contracts.items():
            if not c["evm"]["bytecode"]["object"]:
                continue  # interfaces
            artifact = {
                "contractName": name,
                "source": f"contracts/{file_name}",
                "compiler": f"solcjs {version}",
                "abi": c["abi"],
                "bytecode": "0x" + c["evm"]["bytecode"]["object"],
            }
            (OUT / f"{name}.json").write_text(json.dumps(artifact, indent=1) + "\n")
            print(f"wrote {OUT / f'{name}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
