#!/usr/bin/env bash
# Builds netfence and runs the whole test suite (unit, corpus, extension
# vectors, kernel-differential). Exit status is non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 1200
