"""The other side of fdlab's interop tests: Python's own socket.send_fds /
socket.recv_fds (CPython >= 3.9), code nobody in fdlab wrote.

usage: py_fds.py receive   fd 3 is the channel: receive one fd, read it, report
       py_fds.py send      fd 3 is the channel: send a pipe's read end that holds "from python"
       py_fds.py passcred  fd 3 is Node's receiving end (turn SO_PASSCRED on it), fd 4 ours:
                           send 2 fds so Node's recvmsg gets SCM_CREDENTIALS and SCM_RIGHTS
"""
import json
import os
import socket
import sys

mode = sys.argv[1]
channel = socket.socket(fileno=3)
channel.setblocking(True)

if mode == "receive":
    msg, fds, flags, _ = socket.recv_fds(channel, 1024, 16)
    content = os.read(fds[0], 100).decode()
    print(json.dumps({"msg": msg.decode(), "fds": fds, "content": content, "truncated": bool(flags & socket.MSG_CTRUNC)}))
elif mode == "send":
    r, w = os.pipe()
    os.write(w, b"from python")
    os.close(w)
    socket.send_fds(channel, [b"py"], [r])
    print(json.dumps({"sent": r}))
elif mode == "passcred":
    channel.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    ours = socket.socket(fileno=4)
    r, w = os.pipe()
    os.write(w, b"x")
    socket.send_fds(ours, [b"creds"], [r, w])
    print(json.dumps({"sent": [r, w]}))
else:
    sys.exit(f"unknown mode {mode}")
