"""A ping/pong client that shares no code with fdlab: Python asyncio.

Holds N connections to `fdlab serve`, pings continuously (single, pipelined
"pingping", and split "pi" + "ng" writes), sends SIGUSR2 to the pid in the
pid file U times in a row (waiting for the new pid, and for the old one to
exit, each time), then checks
that every ping got exactly one pong and no connection dropped.

usage: ping_client.py PORT PID_FILE [CONNECTIONS] [UPGRADES]
Prints one JSON line.
"""
import asyncio
import json
import os
import signal
import sys
import time

PORT = int(sys.argv[1])
PID_FILE = sys.argv[2]
CONNECTIONS = int(sys.argv[3]) if len(sys.argv) > 3 else 100
UPGRADES = int(sys.argv[4]) if len(sys.argv) > 4 else 5

stop = asyncio.Event()
stats = {"pings": 0, "pongs": 0, "garbage": 0, "disconnects": 0, "max_delay_ms": 0.0}


def read_pid():
    with open(PID_FILE) as f:
        return int(f.read().strip() or 0)


def alive(pid):
    """Whether pid runs (a zombie waiting to be reaped does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


async def connection(index):
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    sent = 0
    received = 0
    pending_since = []  # send time of each ping still waiting for its pong

    async def read_pongs():
        nonlocal received
        buffered = b""
        while True:
            data = await reader.read(4096)
            if not data:
                stats["disconnects"] += 1
                return
            buffered += data
            while len(buffered) >= 4:
                unit, buffered = buffered[:4], buffered[4:]
                if unit != b"pong":
                    stats["garbage"] += 1
                    continue
                received += 1
                stats["pongs"] += 1
                if pending_since:
                    delay = (time.monotonic() - pending_since.pop(0)) * 1000
                    stats["max_delay_ms"] = max(stats["max_delay_ms"], delay)

    pong_task = asyncio.create_task(read_pongs())
    style = index % 3
    while not stop.is_set():
        now = time.monotonic()
        if style == 0:
            writer.write(b"ping")
            count = 1
        elif style == 1:
            writer.write(b"pingping")  # pipelined: two pongs, in order
            count = 2
        else:
            writer.write(b"pi")  # one ping split across two writes
            await writer.drain()
            await asyncio.sleep(0.01)
            writer.write(b"ng")
            count = 1
        await writer.drain()
        sent += count
        stats["pings"] += count
        pending_since.extend([now] * count)
        await asyncio.sleep(0.05)

    deadline = time.monotonic() + 10
    while received < sent and time.monotonic() < deadline and not pong_task.done():
        await asyncio.sleep(0.02)
    pong_task.cancel()
    writer.close()
    return sent, received


async def upgrades():
    pids = [read_pid()]
    for _ in range(UPGRADES):
        await asyncio.sleep(0.7)
        os.kill(pids[-1], signal.SIGUSR2)
        deadline = time.monotonic() + 15
        while read_pid() == pids[-1]:
            if time.monotonic() > deadline:
                raise SystemExit(f"pid file still names {pids[-1]} 15 s after SIGUSR2")
            await asyncio.sleep(0.02)
        pids.append(read_pid())
        # The new version accepts the next SIGUSR2 once the old one has released it and exited.
        while alive(pids[-2]):
            if time.monotonic() > deadline:
                raise SystemExit(f"pid {pids[-2]} still runs 15 s after SIGUSR2")
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.7)
    stop.set()
    return pids


async def main():
    tasks = [asyncio.create_task(connection(i)) for i in range(CONNECTIONS)]
    pids = await upgrades()
    results = await asyncio.gather(*tasks)
    lost = sum(max(0, s - r) for s, r in results)
    duplicated = sum(max(0, r - s) for s, r in results)
    print(json.dumps({"connections": CONNECTIONS, "pids": pids, "lost": lost, "duplicated": duplicated, **stats}))


asyncio.run(main())
