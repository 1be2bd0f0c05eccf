"""A client that reads its pongs slowly, through a 4 KB receive buffer.

SO_RCVBUF is set before connect (so the window it announces is small from
the start): the server's pongs back up in its own socket, its app pauses on
the full write buffer and resumes on 'drain'. One thread sends PINGS pings
as fast as the server takes them; the main thread reads CHUNK bytes every
millisecond. Node's net.Socket cannot set SO_RCVBUF, hence Python.
SIGUSR1 pauses the reading (the sending goes on), the next one resumes it.

usage: slow_reader.py PORT PINGS [CHUNK] [STALL_S]
Prints "connected LOCAL_PORT", then "received N" every 256 KB, then one JSON
line: {"pings": .., "pongs": .., "garbage": .., "closed": bool, "stalled": bool}.
Exits 0 only if every ping got its pong.
"""
import json
import signal
import socket
import sys
import threading
import time

PORT = int(sys.argv[1])
PINGS = int(sys.argv[2])
CHUNK = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
STALL_S = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
sock.connect(("127.0.0.1", PORT))
print(f"connected {sock.getsockname()[1]}", flush=True)


def send():
    data = b"ping" * PINGS
    try:
        sock.sendall(data)
    except OSError:
        pass  # the server closed it: the reader says so


threading.Thread(target=send, daemon=True).start()

paused = False


def toggle(signum, frame):
    global paused
    paused = not paused


signal.signal(signal.SIGUSR1, toggle)

sock.settimeout(STALL_S)
received = 0
garbage = 0
closed = False
stalled = False
leftover = b""
next_report = 256 * 1024
while received < 4 * PINGS:
    if paused:
        time.sleep(0.005)
        continue
    try:
        data = sock.recv(CHUNK)
    except socket.timeout:
        stalled = True  # nothing for STALL_S seconds: the server stopped serving us
        break
    except OSError:
        closed = True
        break
    if not data:
        closed = True
        break
    leftover += data
    whole = len(leftover) - len(leftover) % 4
    garbage += sum(1 for i in range(0, whole, 4) if leftover[i:i + 4] != b"pong")
    leftover = leftover[whole:]
    received += len(data)
    if received >= next_report:
        print(f"received {received}", flush=True)
        next_report += 256 * 1024
    time.sleep(0.001)

print(json.dumps({"pings": PINGS, "pongs": received // 4, "garbage": garbage, "closed": closed, "stalled": stalled}), flush=True)
sock.close()
sys.exit(0 if received == 4 * PINGS and garbage == 0 else 1)
