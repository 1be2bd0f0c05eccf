#!/bin/sh
# postStartCommand of the docker-in-docker devcontainer: start dockerd inside
# this (privileged) container unless an engine already answers, and wait for it.
# Its log: /var/log/dockerd.log.
set -eu

if docker info >/dev/null 2>&1; then
  echo "dockerd already answers"
  exit 0
fi

# cgroup v2: dockerd must not be in the root cgroup while it delegates
# controllers to containers (what moby's own dind script does).
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mkdir -p /sys/fs/cgroup/init
  xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init/cgroup.procs 2>/dev/null || :
  sed -e 's/ / +/g' -e 's/^/+/' < /sys/fs/cgroup/cgroup.controllers > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || :
fi

# setsid + nohup: the engine outlives the lifecycle command that started it.
setsid nohup dockerd > /var/log/dockerd.log 2>&1 < /dev/null &

i=0
while ! docker info >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then
    echo "dockerd did not answer within 60 s; its log:" >&2
    tail -n 30 /var/log/dockerd.log >&2 || :
    exit 1
  fi
  sleep 1
done
echo "dockerd answers: $(docker version --format '{{.Server.Version}}')"
