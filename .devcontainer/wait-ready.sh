#!/bin/sh
# onCreateCommand and postStartCommand: the Dev Containers CLI starts running
# commands as soon as the container prints "Container started", which is
# before the entrypoint (fdlab-devcontainer-init.sh) has put the remote user in
# the Docker socket's group and added the host's CA. Wait for the file it
# writes last (up to 30 s), print what it did, and fail if it failed.
ready=/run/fdlab-devcontainer.ready
i=0
while [ ! -f "$ready" ]; do
  i=$((i + 1))
  if [ "$i" -gt 300 ]; then
    echo "$ready did not appear within 30 s: was the image's entrypoint overridden (devcontainer.json needs \"overrideCommand\": false)?" >&2
    exit 1
  fi
  sleep 0.1
done
cat "$ready"
! grep -qx failed "$ready"
