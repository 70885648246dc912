#!/usr/bin/env bash
# Builds the images a real node runs, with no registry: the pod sandbox (pause) image, a Debian base
# image from Debian packages (mmdebstrap), the project's Dockerfile on that base (buildah), the
# examples image (examples/Dockerfile) and the test workflows image (tests/workflows/Dockerfile).
# Each is an OCI archive in ~/.cache/kube-workflows/images/, keyed by a hash of everything it is built
# from, so an unchanged image is never rebuilt. Prints a directory of the current archives
# (`ctr -n k8s.io images import` loads them; `kwf dev up --node kubelet` does that itself).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache="${KWF_CACHE_DIR:-$HOME/.cache/kube-workflows}"
images="$cache/images"
suite=bookworm
export GOTOOLCHAIN=local

# buildah runs each Dockerfile RUN in a container: it needs an OCI runtime of its own (Debian's runc; the
# real node's containerd uses the runc hack/build-realnode.sh builds, by path).
bash "$root/hack/debian-packages.sh" mmdebstrap buildah runc
missing=()
for tool in mmdebstrap buildah runc go; do command -v "$tool" >/dev/null || missing+=("$tool"); done
[ "$(id -u)" = 0 ] || missing+=("root (mmdebstrap and buildah build as root here)")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'build-images: missing prerequisite: %s\n' "${missing[@]}" >&2
  echo 'build-images: apt-get install mmdebstrap buildah; Go >= 1.26 from go.dev' >&2
  exit 1
fi

buildah=(buildah --root "$cache/buildah/root" --runroot "$cache/buildah/run" --storage-driver overlay)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/pyproject.toml")
repo=ghcr.io/kube-workflows
ca_bundle=${KWF_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

# key ARG... : a short hash of the arguments and of the files under the given paths (relative to root).
key() {
  local strings=() paths=() a
  for a; do if [ -e "$root/$a" ]; then paths+=("$a"); else strings+=("$a"); fi; done
  {
    printf '%s\n' "${strings[@]}"
    (cd "$root" && find "${paths[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*.egg-info/*' \
      -print0 | sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -c1-16
}

# archive NAME KEY : the path of the cached archive of image NAME built from inputs KEY.
archive() { echo "$images/$1-$2.oci.tar"; }

# save IMAGE FILE : export an image from buildah's store to an OCI archive, atomically.
save() {
  "${buildah[@]}" push -q "$1" "oci-archive:$2.partial:$1"
  mv "$2.partial" "$2"
}

mkdir -p "$images"
built=()

# 1. The sandbox image: a static pause binary and nothing else.
pause_key=$(key hack/images/pause)
pause=$(archive pause "$pause_key")
if [ ! -f "$pause" ]; then
  echo ">> building the pause image" >&2
  tmp=$(mktemp -d)
  (cd "$root/hack/images/pause" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$tmp/pause" .)
  c=$("${buildah[@]}" from scratch)
  "${buildah[@]}" copy "$c" "$tmp/pause" /pause >/dev/null
  "${buildah[@]}" config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  "${buildah[@]}" commit -q --rm "$c" registry.k8s.io/pause:3.10 >/dev/null
  save registry.k8s.io/pause:3.10 "$pause"
  rm -rf "$tmp"
fi
built+=("$pause")

# 2. The base: Debian packages only.
base_key=$(key "$suite" hack/images/base.sh)
base_image="localhost/kwf-base:$base_key"
base=$(archive kwf-base "$base_key")
if [ ! -f "$base" ]; then
  echo ">> building the base image (mmdebstrap $suite; ~2 min)" >&2
  start=$(date +%s)
  rootfs="$images/kwf-base-$base_key.rootfs"
  rm -rf "$rootfs" && bash "$root/hack/images/base.sh" "$suite" "$rootfs" >&2
  c=$("${buildah[@]}" from scratch)
  "${buildah[@]}" add "$c" "$rootfs" / >/dev/null
  "${buildah[@]}" config --cmd '["python3"]' --env LANG=C.UTF-8 "$c"
  "${buildah[@]}" commit -q --rm "$c" "$base_image" >/dev/null
  save "$base_image" "$base"
  rm -rf "$rootfs"
  echo ">> base image built in $(( $(date +%s) - start ))s" >&2
fi
"${buildah[@]}" inspect "$base_image" >/dev/null 2>&1 || "${buildah[@]}" pull -q "oci-archive:$base" >/dev/null

# bud NAME IMAGE KEY CONTEXT DOCKERFILE BUILD-ARG : build a Dockerfile unless its archive is cached.
bud() {
  local file
  file=$(archive "$1" "$3")
  if [ ! -f "$file" ]; then
    echo ">> building $2 ($5)" >&2
    local start
    start=$(date +%s)
    # --network host: the builder stage installs the project's dependencies from PyPI, trusting what
    # this machine trusts (its CA bundle, mounted for the build only: a TLS-inspecting proxy's CA
    # must not end up in the image).
    "${buildah[@]}" bud -q --network host --pull=never --layers=false -f "$root/$5" \
      --volume "$ca_bundle:/etc/ssl/certs/ca-certificates.crt:ro" \
      --build-arg "$6" -t "$2" "$root/$4" >&2
    save "$2" "$file"
    echo ">> $2 built in $(( $(date +%s) - start ))s" >&2
  fi
  "${buildah[@]}" inspect "$2" >/dev/null 2>&1 || "${buildah[@]}" pull -q "oci-archive:$file" >/dev/null
  built+=("$file")
}

project_image="$repo/kube-workflows:$version"
project_key=$(key "$base_key" Dockerfile .dockerignore pyproject.toml README.md operator)
bud kube-workflows "$project_image" "$project_key" . Dockerfile "PYTHON_IMAGE=$base_image"

examples_image="$repo/kube-workflows-examples:$version"
examples_key=$(key "$project_key" examples/Dockerfile examples/kwf_examples)
bud kube-workflows-examples "$examples_image" "$examples_key" examples examples/Dockerfile "KWF_IMAGE=$project_image"

testflows_image="$repo/kube-workflows-testflows:$version"
testflows_key=$(key "$examples_key" tests/workflows)
bud kube-workflows-testflows "$testflows_image" "$testflows_key" tests/workflows tests/workflows/Dockerfile \
  "KWF_IMAGE=$examples_image"

# Older builds of these images go: the cache holds the current ones only.
for f in "$images"/*.oci.tar; do
  keep=0
  for b in "${built[@]}" "$base"; do [ "$f" = "$b" ] && keep=1; done
  [ $keep = 1 ] || rm -f "$f"
done
find "$images" -maxdepth 1 -name "*.rootfs" -exec rm -rf {} +
"${buildah[@]}" rmi --prune >/dev/null 2>&1 || true

# The set of archives that belong together: one directory of links, keyed by all of them.
set_dir="$images/set-$(printf '%s\n' "${built[@]}" | sha256sum | cut -c1-16)"
find "$images" -maxdepth 1 -name 'set-*' ! -path "$set_dir" -exec rm -rf {} +
if [ ! -d "$set_dir" ]; then
  mkdir -p "$set_dir.partial"
  for f in "${built[@]}"; do ln -sf "$f" "$set_dir.partial/"; done
  mv "$set_dir.partial" "$set_dir"
fi
echo "$set_dir"
