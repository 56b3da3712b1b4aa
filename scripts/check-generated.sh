#!/usr/bin/env bash
# Fails when the committed generated protocol code differs from what
# codegen/kafka_codegen.py produces from ../shared/kafka-protocol (CI runs this).
# Skips (exit 0) when the protocol definitions are not next to the project.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
protocol_dir="${KP_PROTOCOL_DIR:-$root/../shared/kafka-protocol}"
if [[ ! -d "$protocol_dir/messages" ]]; then
  echo "check-generated: $protocol_dir not found; skipping the generated-code check"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Regenerate into an empty directory: a stale or hand-added file in a
# generated directory then shows up as a difference too.
generated_paths=(src/protocol/generated tests/fuzz/generated tests/unit/protocol/generated include/kprod/kafka_errc.h)
mkdir -p "$tmp/fresh"
python3 "$root/codegen/kafka_codegen.py" --protocol-dir "$protocol_dir" --out "$tmp/fresh" >/dev/null

status=0
for p in "${generated_paths[@]}"; do
  if ! diff -r "$root/$p" "$tmp/fresh/$p"; then
    status=1
  fi
done
if [[ $status -ne 0 ]]; then
  echo "check-generated: committed generated code is out of date; run the regen-protocol target" >&2
  exit 1
fi
echo "check-generated: generated protocol code is up to date"
