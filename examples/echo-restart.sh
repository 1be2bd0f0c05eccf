#!/bin/bash
# Lab 4 outside the lab: a graceful restart while one connection stays open (run after npm run build).
PORT=${PORT:-8085}
log=$(mktemp)
node dist/lab/lab4/echo-server.js "$PORT" --drain-ms 3000 > "$log" &
until grep -q 'serving on' "$log"; do sleep 0.1; done
exec 3<>"/dev/tcp/127.0.0.1/$PORT"                  # a connection this shell keeps open, as fd 3
echo hello >&3 && read -r answer <&3 && echo "echo: $answer"
kill -HUP %1                                        # gen 1 starts gen 2 with the listener as its fd 3
until grep -q 'sent SIGTERM to my parent' "$log"; do sleep 0.1; done
ss -tanp "sport = :$PORT"
wait %1                                             # gen 1 cuts our connection at its 3 s drain timeout, then exits
exec 3<&-
cat "$log"
kill "$(grep -o 'pid [0-9]* (gen 2)' "$log" | head -1 | cut -d' ' -f2)"             # stop gen 2
while ss -tln "sport = :$PORT" | grep -q LISTEN; do sleep 0.1; done
rm "$log"
