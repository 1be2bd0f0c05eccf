#!/bin/sh
# The devcontainer's entrypoint, as root at every start, before anything runs
# as the remote user (wait-ready.sh waits for the file it writes last):
# - the remote user joins the group that owns the mounted Docker socket, whatever
#   gid the host gave it (docker-outside-of-docker as a non-root user);
# - the host's CA bundle (copied into the workspace by host-ca.sh on the host,
#   FDLAB_HOST_CA) joins the system bundle that NODE_EXTRA_CA_CERTS, npm's
#   cafile, git and curl read, for hosts behind a TLS-intercepting proxy.
# Then it runs the container's command (sleep infinity).
set -eu
ready=/run/fdlab-devcontainer.ready
user="${FDLAB_REMOTE_USER:-node}"
socket=/var/run/docker.sock
rm -f "$ready"
mkdir -p "$(dirname "$ready")"
setup() {
  if [ -S "$socket" ] && id "$user" >/dev/null 2>&1; then
    gid="$(stat -c %g "$socket")"
    group="$(getent group "$gid" | cut -d: -f1)"
    if [ -z "$group" ]; then
      # A restart after the host's socket changed gid: move the group made before.
      group=docker-host
      if getent group "$group" >/dev/null; then
        groupmod --gid "$gid" "$group" || return 1
      else
        groupadd --gid "$gid" "$group" || return 1
      fi
    fi
    usermod --append --groups "$group" "$user" || return 1
    echo "docker socket: $user joined group $group (gid $gid)"
  else
    echo "docker socket: none at $socket"
  fi
  if [ -n "${FDLAB_HOST_CA:-}" ] && [ -s "$FDLAB_HOST_CA" ]; then
    cp "$FDLAB_HOST_CA" /usr/local/share/ca-certificates/fdlab-host.crt || return 1
    update-ca-certificates >/dev/null || return 1
    echo "host CA bundle: added from $FDLAB_HOST_CA"
  else
    rm -f /usr/local/share/ca-certificates/fdlab-host.crt
    echo "host CA bundle: none (${FDLAB_HOST_CA:-FDLAB_HOST_CA unset})"
  fi
}
if ! setup > "$ready.tmp" 2>&1; then
  cat "$ready.tmp" >&2
  echo failed >> "$ready.tmp"
fi
mv "$ready.tmp" "$ready"
exec "$@"
