#!/usr/bin/env python3
"""Lab 4 exercise: SO_REUSEPORT, the other way to restart, and its weak spot.

Two sockets bind the same address with SO_REUSEPORT. Each has its own accept
queue, and the kernel spreads new connections over them by a hash of the
4-tuple. Closing one listener throws away what waits in its queue (the
clients get RST), unless net.ipv4.tcp_migrate_req=1 (Linux >= 5.14) lets the
kernel move those connections to another listener of the group.
For contrast it then does what lab 4 does: one socket, two fds (a dup, as
fork, exec and SCM_RIGHTS make), one accept queue; closing the old fd loses
nothing.

Run it in a network namespace of its own, so the sysctl and the port touch
nothing else (root):

    unshare -n sh -c 'ip link set lo up; python3 lab/lab4/reuseport.py'
    unshare -n sh -c 'ip link set lo up; sysctl -qw net.ipv4.tcp_migrate_req=1; python3 lab/lab4/reuseport.py'

Ports 8089 and 8088 on 127.0.0.1 only; 100 connections per case.
"""
import errno
import socket

PORT = 8089
SHARED_PORT = 8088
CONNECTIONS = 100


def listener() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", PORT))
    s.listen(256)
    s.setblocking(False)
    return s


def drain(s: socket.socket) -> int:
    accepted = 0
    while True:
        try:
            conn, _ = s.accept()
        except BlockingIOError:
            return accepted
        accepted += 1
        conn.close()


def count_resets(clients: list) -> int:
    reset = 0
    for c in clients:
        c.setblocking(False)
        try:
            c.recv(1)
        except BlockingIOError:
            pass
        except OSError as e:
            if e.errno == errno.ECONNRESET:
                reset += 1
        c.close()
    return reset


def shared_socket() -> None:
    """Lab 4's way for contrast: one socket, two fds (a dup, as fork or SCM_RIGHTS makes)."""
    old = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    old.bind(("127.0.0.1", SHARED_PORT))
    old.listen(256)
    new = socket.socket(fileno=socket.dup(old.fileno()))  # the successor's fd: the same socket, the same queue
    new.setblocking(False)
    clients = [socket.create_connection(("127.0.0.1", SHARED_PORT)) for _ in range(CONNECTIONS)]
    old.close()
    accepted = drain(new)
    reset = count_resets(clients)
    new.close()
    print(f"one socket, two fds (fd passing): the old fd closed; the new fd accepted {accepted}; {reset} clients were reset")


def main() -> None:
    try:
        migrate = open("/proc/sys/net/ipv4/tcp_migrate_req").read().strip()
    except OSError:
        migrate = "absent (kernel < 5.14)"
    old, new = listener(), listener()
    clients = []
    for _ in range(CONNECTIONS):
        c = socket.create_connection(("127.0.0.1", PORT))  # the handshake completes in the kernel: nobody accepts yet
        clients.append(c)
    old.close()  # the old process exits without accepting what waits in its queue
    accepted_by_new = drain(new)
    reset = count_resets(clients)
    new.close()
    print(f"net.ipv4.tcp_migrate_req = {migrate}")
    print(f"{CONNECTIONS} connections wait in the accept queue(s); then the old listener closes without accepting")
    print(f"SO_REUSEPORT, two sockets: the new listener accepted {accepted_by_new}; {reset} clients were reset")
    shared_socket()


if __name__ == "__main__":
    main()
