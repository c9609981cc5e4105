"""Hanging buyers: accept the connection, read the ping, never answer.

Not on the measured path: the router must give up on these by itself, at the close of its ping
phase, and the rig measures when the seller gets its answer anyway.
Usage: `python hang.py HOST:PORT [HOST:PORT ...]`; prints "ready" once every address listens.
"""

from __future__ import annotations

import asyncio
import sys


async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # Read (so the client's send never blocks) until the router gives up and closes.
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(addresses: list[str]) -> None:
    servers = []
    for address in addresses:
        host, _, port = address.rpartition(":")
        servers.append(await asyncio.start_server(swallow, host, int(port), backlog=4096))
    print("ready", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1:]))
