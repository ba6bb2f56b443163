#!/bin/sh
# Builds the local stand-in for python:3.11-slim (no registry here): Debian bookworm + Python 3.11, a venv on PATH,
# the host's extra CA certificates (HTTPS from inside a build verifies only with them). Cached by name.
set -eu
IMAGE="${1:-localhost/aiaas-base:bookworm-py311}"
if podman image exists "$IMAGE"; then echo "base image $IMAGE cached"; exit 0; fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
mmdebstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
  --customize-hook='chroot "$1" python3 -m venv /opt/venv' \
  --customize-hook='cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/" 2>/dev/null || true' \
  --customize-hook='chroot "$1" update-ca-certificates' \
  bookworm "$TMP/base.tar"
podman import \
  --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  "$TMP/base.tar" "$IMAGE"
