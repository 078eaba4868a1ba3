#!/usr/bin/env bash
# Make Fashion-MNIST available: $LENET_BATCH_DATA, else the Debian/Ubuntu package, else a cached download.
set -euo pipefail
cli="${1:-lenet-batch}"
pkg_dir=/usr/share/datasets/fashion-mnist

if [[ -z "${LENET_BATCH_DATA:-}" && ! -d "$pkg_dir" ]] && command -v apt-get >/dev/null; then
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; fi
    fi
    if [[ $(id -u) -eq 0 || -n "$sudo" ]]; then
        echo "installing the Debian/Ubuntu package dataset-fashion-mnist" >&2
        $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
            || { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null; } \
            || echo "apt-get could not install dataset-fashion-mnist; falling back to a download" >&2
    fi
fi
# Locates (or downloads into the cache) and verifies every file; exits non-zero with one line if it cannot.
"$cli" data --quiet
