#!/usr/bin/env bash
# Obtains the ONNX Runtime C/C++ API headers into deps/onnxruntime/include.
#
# Why this dance: onnxruntime-node ships the runtime library (libonnxruntime.so.1) but no
# headers, and Debian bookworm has no onnxruntime package. Debian trixie's
# libonnxruntime-dev has them (API 21; the 1.30 runtime serves API versions 1..30). We
# read trixie's index with a throw-away apt configuration (nothing is added to the
# system's apt sources) and unpack only the headers.
#
# A user without apt can point P2SAM_ORT_INCLUDE_DIR at any directory holding
# onnxruntime_cxx_api.h (e.g. from an official ONNX Runtime release archive).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/deps/onnxruntime/include"

if [ -n "${P2SAM_ORT_INCLUDE_DIR:-}" ]; then
  if [ ! -f "$P2SAM_ORT_INCLUDE_DIR/onnxruntime_cxx_api.h" ]; then
    echo "P2SAM_ORT_INCLUDE_DIR=$P2SAM_ORT_INCLUDE_DIR has no onnxruntime_cxx_api.h" >&2
    exit 1
  fi
  mkdir -p "$dest"
  cp "$P2SAM_ORT_INCLUDE_DIR"/*.h "$dest/"
  echo "ONNX Runtime headers copied from $P2SAM_ORT_INCLUDE_DIR"
  exit 0
fi
if [ -f "$dest/onnxruntime_cxx_api.h" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get is not available: set P2SAM_ORT_INCLUDE_DIR to a folder with the ONNX Runtime headers" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mirror="${P2SAM_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/download"
echo "deb $mirror trixie main" > "$work/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "Dir::State::status=/dev/null"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root"
)
apt-get "${apt_opts[@]}" -qq update
(cd "$work/download" && apt-get "${apt_opts[@]}" -qq download libonnxruntime-dev)
deb="$(ls "$work"/download/libonnxruntime-dev_*.deb | head -n 1)"
dpkg -x "$deb" "$work/extract"
header="$(find "$work/extract" -name onnxruntime_cxx_api.h | head -n 1)"
if [ -z "$header" ]; then
  echo "libonnxruntime-dev did not contain onnxruntime_cxx_api.h" >&2
  exit 1
fi
mkdir -p "$dest"
cp "$(dirname "$header")"/*.h "$dest/"
echo "ONNX Runtime headers installed into $dest (from $(basename "$deb"))"
