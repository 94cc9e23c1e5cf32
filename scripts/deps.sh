#!/usr/bin/env bash
# Installs what accel needs to build and test on Debian 12 (as root, or through sudo).
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang-format curl
      libev-dev liblmdb-dev zlib1g-dev libssl-dev openssl libcriterion-dev libxxhash-dev node-llhttp)
pkgs+=("$@")
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "accel: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
