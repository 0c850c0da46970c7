#!/usr/bin/env bash
# The README's test command: restores, builds and runs every test project (unit, conformance, integration).
set -euo pipefail
cd "$(dirname "$0")"
dotnet build ActorLlm.sln -c Release -warnaserror
dotnet test ActorLlm.sln -c Release --no-build "$@"
