"""``python -m voice_testkit.nova_emulator``: the emulator as a process; prints one JSON line with
its URL and CA."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path

from .certs import make_tls_files
from .model import ModelConfig
from .server import EmulatorServer


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m voice_testkit.nova_emulator")
    parser.add_argument("--dir", type=Path, required=True, help="where the test CA and certificate go")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--answer-chunks", type=int, default=10)
    parser.add_argument("--endpoint-ms", type=int, default=400)
    parser.add_argument("--time-limit", type=float, default=480.0)
    args = parser.parse_args()
    tls = make_tls_files(args.dir)
    config = ModelConfig(
        endpoint_ms=args.endpoint_ms, answer_chunks=args.answer_chunks, time_limit=args.time_limit
    )
    server = EmulatorServer(tls, config)
    await server.start(port=args.port)
    print(json.dumps({"url": server.url, "ca": str(tls.ca)}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        violations = server.violations()
        if violations:
            print(json.dumps({"violations": violations}), file=sys.stderr, flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
