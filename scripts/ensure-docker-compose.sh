#!/usr/bin/env bash
# The home-lab tests (tests/ActorLlm.IntegrationTests/HomeLabComposeTests.cs) validate docker-compose/docker-compose.yml
# with Debian's docker-compose, which checks and prints a compose file without a Docker daemon. test.sh calls this
# first: it installs the package with apt-get when `docker-compose` is missing (as root, or through sudo where that
# needs no password), quietly. Without it those tests are skipped with a message saying so.
set -euo pipefail
if command -v docker-compose >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-docker-compose: docker-compose is missing and there is no apt-get; the compose tests will be skipped" >&2
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "ensure-docker-compose: docker-compose is missing and this user cannot install it; the compose tests will be skipped" >&2
    exit 0
  fi
fi
echo "ensure-docker-compose: installing docker-compose (apt-get) to validate the home-lab compose file" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" apt-get install -y -qq --no-install-recommends docker-compose; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "ensure-docker-compose: could not install docker-compose; the compose tests will be skipped" >&2
fi
rm -f "$log"
