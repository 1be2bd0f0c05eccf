#!/bin/sh
# initializeCommand, on the host before the container is made: copy the host's
# CA bundle into the workspace (.devcontainer/host-ca.crt, git-ignored), where
# fdlab-devcontainer-init.sh adds it to the container's trust. Behind a
# TLS-intercepting proxy that is what lets `npm install` in the container reach
# the registry. The system bundle and the files named by NODE_EXTRA_CA_CERTS and
# SSL_CERT_FILE (macOS keeps a proxy's CA in the keychain, so users point these
# at an exported copy) are concatenated; with none of them the file is empty.
set -u
out="$(dirname "$0")/host-ca.crt"
: > "$out"
system=
for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
  if [ -s "$f" ]; then system="$f"; cat "$f" >> "$out"; break; fi
done
for f in "${NODE_EXTRA_CA_CERTS:-}" "${SSL_CERT_FILE:-}"; do
  if [ -n "$f" ] && [ -s "$f" ] && [ "$f" != "$system" ]; then cat "$f" >> "$out"; fi
done
echo "host CA bundle: $(grep -c 'BEGIN CERTIFICATE' "$out") certificates in $out"
