#!/usr/bin/env bash
# The base image's root filesystem from Debian packages: base.sh SUITE OUT (a directory, or OUT.tar).
# Python laid out as the project's Dockerfile expects of its PYTHON_IMAGE (the python:*-slim images):
# `python3` and `pip` from /usr/local/bin, packages in /usr/local/lib/python3.X/site-packages. Here
# /usr/local is a virtual environment over Debian's python3, so `pip install --prefix=/install` in a
# builder stage lays files out exactly where the final stage's `COPY /install /usr/local` needs them
# (Debian's own pip would add a `local/` level and refuses system-wide installs, PEP 668).
set -euo pipefail
suite=$1 out=$2
mmdebstrap --variant=minbase --include=python3,python3-venv,passwd,ca-certificates \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --customize-hook='chroot "$1" python3 -m venv /usr/local' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log' \
  --customize-hook='find "$1/usr" -name __pycache__ -prune -exec rm -rf {} +' \
  "$suite" "$out"
