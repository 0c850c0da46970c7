#!/usr/bin/env bash
# The dashboard's browser test (tests/ActorLlm.IntegrationTests/DashboardTests.cs) drives Debian's chromium through
# Playwright's driver (bundled in the Microsoft.Playwright NuGet package, with its own node); Playwright's own browser
# downloads are never used. test.sh calls this first: it installs chromium with apt-get when /usr/bin/chromium is
# missing (as root, or through sudo where that needs no password), quietly. Without it the browser test fails with
# a message saying so; everything else still runs.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: /usr/bin/chromium is missing and there is no apt-get; install chromium by hand for the dashboard test" >&2
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "ensure-chromium: /usr/bin/chromium is missing and this user cannot install it; install chromium for the dashboard test" >&2
    exit 0
  fi
fi
echo "ensure-chromium: installing chromium (apt-get) for the dashboard's browser test" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  rm -f "$log"
  echo "ensure-chromium: could not install chromium; the dashboard test will fail" >&2
  exit 0
fi
rm -f "$log"
/usr/bin/chromium --version >&2 || true
