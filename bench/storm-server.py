# The reference for bench:storm: a ping/pong server in ~30 lines of Python
# (selectors, one thread), listening with the largest backlog the kernel
# allows. Its accept path is what a short script does: accept, non-blocking,
# register. Prints "serving on 127.0.0.1:<port>" once it listens.
import selectors, socket, sys

sel = selectors.DefaultSelector()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', 0))
srv.listen(int(open('/proc/sys/net/core/somaxconn').read()))
srv.setblocking(False)
sel.register(srv, selectors.EVENT_READ)
print(f'serving on 127.0.0.1:{srv.getsockname()[1]}', flush=True)
partial = {}
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s is srv:
            while True:
                try:
                    conn, _ = srv.accept()
                except BlockingIOError:
                    break
                conn.setblocking(False)
                partial[conn] = b''
                sel.register(conn, selectors.EVENT_READ)
            continue
        try:
            data = s.recv(65536)
        except ConnectionError:
            data = b''
        if not data:
            sel.unregister(s)
            del partial[s]
            s.close()
            continue
        lines = (partial[s] + data).split(b'\n')
        partial[s] = lines.pop()
        s.sendall(b''.join(b'pong\n' for line in lines if line == b'ping'))
