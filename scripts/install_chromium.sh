#!/usr/bin/env bash
# Headless Chromium for tests/test_browser.py: the Debian package `chromium`, installed as root or with
# passwordless sudo (as scripts/install_data.sh installs the dataset). Where that cannot be done this says
# why and exits 0: the browser tests then skip with the same reason.
set -uo pipefail
if [[ -n "${LENET_BATCH_CHROMIUM:-}" ]] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "no apt-get: install Chromium yourself (or set LENET_BATCH_CHROMIUM); the browser tests skip" >&2
    exit 0
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        echo "not root and no passwordless sudo: chromium not installed; the browser tests skip" >&2
        exit 0
    fi
fi
echo "installing the Debian package chromium (for the browser tests)" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq chromium >/dev/null; } \
    || echo "apt-get could not install chromium; the browser tests skip" >&2
exit 0
