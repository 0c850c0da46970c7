#!/usr/bin/env bash
# ensure-package.sh COMMAND PACKAGE WHAT: makes sure COMMAND (a path or a name on PATH) exists, installing Debian's
# PACKAGE with apt-get when it does not (as root, or through sudo where that needs no password), quietly. test.sh
# calls it for the tools some integration tests need:
#   chromium        the dashboard's browser test (Playwright's driver, bundled in its NuGet package, drives it)
#   docker-compose  the home-lab tests validate docker-compose/docker-compose.yml with it (no Docker daemon needed)
# When it cannot install, it says so and exits 0: the rest of the tests still run, and the tests that need COMMAND
# fail (chromium) or skip (docker-compose) with a message naming this script.
set -euo pipefail
command=$1 package=$2 what=$3
# A path is checked as a file (a bare name like docker-compose is also this repository's docker-compose/ folder,
# which `-x` alone would take for the command); a name is looked up on PATH.
if { [[ "$command" == */* ]] && [ -f "$command" ] && [ -x "$command" ]; } || { [[ "$command" != */* ]] && command -v "$command" >/dev/null 2>&1; }; then
  exit 0
fi
say() { echo "ensure-package: $*" >&2; }
if ! command -v apt-get >/dev/null 2>&1; then
  say "$command is missing and there is no apt-get; install $package by hand for $what"
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    say "$command is missing and this user cannot install $package; install it for $what"
    exit 0
  fi
fi
say "installing $package (apt-get) for $what"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" apt-get install -y -qq --no-install-recommends "$package"; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  say "could not install $package; $what will not run"
fi
rm -f "$log"
