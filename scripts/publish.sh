#!/usr/bin/env bash
# Publishes the actorllm CLI for a machine without the .NET SDK or this checkout:
#   scripts/publish.sh RID [OUT]          RID: linux-x64, win-x64 or osx-arm64; OUT: default artifacts/publish/RID
#   scripts/publish.sh RID [OUT] --archive   also packs OUT as OUT.tar.gz (linux, macOS) or OUT.zip (Windows)
# Environment: ACTORLLM_PUBLISH_NATIVE=false leaves libtorch out (a compile-and-package check, as CI does for win-x64;
# the result does not run models), ACTORLLM_PUBLISH_ARGS adds arguments to `dotnet publish`.
#
# What comes out (README, "A spare PC without the SDK"): a self-contained directory: the `actorllm` executable
# (`actorllm.exe` on Windows) as one single file holding the .NET runtime and every managed assembly, and beside it
# the native libraries it loads (libtorch and TorchSharp's LibTorchSharp, a few hundred MB) plus models/stories260K
# and config/. libtorch is not bundled into the single file: IncludeNativeLibrariesForSelfExtract would extract it
# (hundreds of MB) to a temporary directory on every new version's first run, and TorchSharp finds its native
# libraries beside the executable, where the host's probing looks. Copy the whole directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rid="${1:-}"
case "$rid" in
  linux-x64|win-x64|osx-arm64) ;;
  *) echo "usage: scripts/publish.sh linux-x64|win-x64|osx-arm64 [OUT] [--archive]" >&2; exit 2 ;;
esac
out="${2:-$root/artifacts/publish/$rid}"
archive="${3:-}"
if [[ -n "$archive" && "$archive" != "--archive" ]]; then
  echo "usage: scripts/publish.sh RID [OUT] [--archive]" >&2; exit 2
fi
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
rm -rf "$out"

native=()
if [[ "${ACTORLLM_PUBLISH_NATIVE:-true}" == "false" ]]; then
  native=(-p:ActorLlmNoNativeTorch=true)
fi

# shellcheck disable=SC2086
dotnet publish "$root/src/ActorLlm.Cli/ActorLlm.Cli.csproj" -c Release -r "$rid" --self-contained true \
  -p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=false -p:DebugType=none \
  -p:PublishDocumentationFile=false -p:PublishReferencesDocumentationFiles=false \
  "${native[@]}" -warnaserror -o "$out" -nologo -v quiet ${ACTORLLM_PUBLISH_ARGS:-}

exe="$out/actorllm"
[[ "$rid" == win-* ]] && exe="$out/actorllm.exe"
[[ -f "$exe" ]] || { echo "error: $exe was not produced" >&2; exit 1; }
echo "$rid: $(du -sh "$out" | cut -f1) in $out ($(find "$out" -type f | wc -l) files)"

if [[ "$archive" == "--archive" ]]; then
  if [[ "$rid" == win-* ]]; then
    command -v zip >/dev/null || { echo "error: --archive for Windows needs zip (apt-get install zip)" >&2; exit 1; }
    (cd "$(dirname "$out")" && rm -f "$out.zip" && zip -qr "$out.zip" "$(basename "$out")")
    echo "archive: $out.zip ($(du -sh "$out.zip" | cut -f1))"
  else
    tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
    echo "archive: $out.tar.gz ($(du -sh "$out.tar.gz" | cut -f1))"
  fi
fi
