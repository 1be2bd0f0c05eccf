#!/bin/sh
# fdlab serve, upgraded in place twice while a client pings (run after npm run build).
# A SIGUSR2 is ignored while the previous version still stands by (--standby ms), so wait for it.
set -e
PORT=${PORT:-7000}
dir=$(mktemp -d)
node dist/src/cli/main.js serve --port "$PORT" --pid-file "$dir/pid" --standby 1000 &
until [ -s "$dir/pid" ]; do sleep 0.1; done                # the pid file appears once it serves
node dist/examples/ping-client.js "$PORT" 3000 &             # one connection, a ping every 10 ms for 3 s
client=$!
for gen in 2 3; do
  old=$(cat "$dir/pid")
  kill -USR2 "$old"                                          # the next version takes over
  while [ "$(cat "$dir/pid")" = "$old" ]; do sleep 0.1; done # until it names itself in the pid file
  echo "gen $gen serves as pid $(cat "$dir/pid")"
  while kill -0 "$old" 2>/dev/null; do sleep 0.1; done        # the old one stands by 1 s, then exits
done
wait "$client"                                               # pings, pongs, lost: exit 1 if one was lost
kill "$(cat "$dir/pid")"                                     # stop whichever version serves now
while [ -e "$dir/pid" ]; do sleep 0.1; done                  # it removes the pid file as it exits
rm -r "$dir"
