#!/usr/bin/env bash
# The README's test command: builds everything (warnings are errors) and runs every test project, one after
# another so that the integration tests' node processes do not compete with the unit tests for the CPU:
#   1. ActorLlm.Inference.Tests   model conformance, tokenizer, unit store, sampling, leak check
#   2. ActorLlm.Cluster.Tests     wire protocol, planner, actors with TestKit, config
#   3. ActorLlm.Gateway.Tests     the gateway: API request parsing, API keys, response shapes, the dashboard's
#                                 event ring and status diffing, metrics names, the page
#   (then scripts/publish.sh linux-x64 and win-x64: the self-contained binaries, see README)
#   4. ActorLlm.IntegrationTests  whole pools as separate processes on loopback (real sockets, real TorchSharp,
#                                 the official OpenAI client against the gateway's API), and the dashboard in a
#                                 headless chromium (scripts/ensure-package.sh installs it and docker-compose)
# Extra arguments go to every `dotnet test` (e.g. --filter ...).
set -euo pipefail
cd "$(dirname "$0")"
scripts/ensure-package.sh /usr/bin/chromium chromium "the dashboard's browser test"
scripts/ensure-package.sh docker-compose docker-compose "the home-lab compose tests"
dotnet build ActorLlm.sln -c Release -warnaserror -nologo
# The published binaries (README, "A spare PC without the SDK"): linux-x64 in full (HomeLabPublishTests runs it from
# outside the checkout), win-x64 as a build-and-package check (nothing here runs it). Both fail on warnings, CA1416
# (a platform-specific API reached unguarded) among them.
SECONDS=0
scripts/publish.sh linux-x64 artifacts/publish/linux-x64
scripts/publish.sh win-x64 artifacts/publish/win-x64
echo "publish: linux-x64 and win-x64 in ${SECONDS} s"
for project in tests/ActorLlm.Inference.Tests tests/ActorLlm.Cluster.Tests tests/ActorLlm.Gateway.Tests tests/ActorLlm.IntegrationTests; do
  dotnet test "$project" -c Release --no-build --nologo "$@"
done
