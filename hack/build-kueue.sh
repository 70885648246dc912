#!/usr/bin/env bash
# Builds Kueue's manager from its Go module through the Go module proxy, and keeps the module's CRDs
# and webhook configuration beside it, in a cache outside the repo keyed by version:
# ~/.cache/kube-workflows/bin/kueue-<version>/{kueue,crds/,webhooks.yaml}. Prints that directory.
# Reuses it when present. The tests (tests/e2e/test_kueue.py) run it against the dev cluster.
set -euo pipefail

version="${KUEUE_VERSION:-v0.17.0}"
cache="${KWF_CACHE_DIR:-$HOME/.cache/kube-workflows}/bin"
out="$cache/kueue-$version"
if [ -x "$out/kueue" ] && [ -f "$out/webhooks.yaml" ]; then echo "$out"; exit 0; fi
command -v go >/dev/null || { echo "build-kueue: missing prerequisite: go (the Go toolchain, >= 1.25)" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
start=$(date +%s)
echo ">> building kueue $version" >&2
rm -rf "$out.partial" && mkdir -p "$out.partial/crds"
work=$(mktemp -d) && trap 'rm -rf "$work"' EXIT
# `go install pkg@version` builds the module as released (its go.mod has no replace directives).
(cd "$work" && GOBIN="$out.partial" go install -trimpath "sigs.k8s.io/kueue/cmd/kueue@$version")
source=$(cd "$work" && go mod download -json "sigs.k8s.io/kueue@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
cp "$source"/config/components/crd/bases/*.yaml "$out.partial/crds/"
cp "$source/config/components/webhook/manifests.yaml" "$out.partial/webhooks.yaml"
chmod -R u+w "$out.partial"
rm -rf "$out" && mv "$out.partial" "$out"
echo ">> kueue built in $(( $(date +%s) - start ))s" >&2
echo "$out"
