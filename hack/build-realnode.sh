#!/usr/bin/env bash
# Builds what a real node needs from source through the Go module proxy: kubelet (from the control
# plane's Kubernetes module, so node and control plane share one version), containerd + its runc shim +
# ctr, runc (cgo, seccomp), the CNI plugins and crictl. Each lands in a cache outside the repo keyed by
# version, ~/.cache/kube-workflows/bin/<name>-<version>/; all are linked into one directory keyed by
# every version, which is printed on stdout. Reuses binaries when present.
set -euo pipefail

hack=$(cd "$(dirname "$0")" && pwd)
bash "$hack/debian-packages.sh" gcc pkg-config libseccomp-dev
cache="${KWF_CACHE_DIR:-$HOME/.cache/kube-workflows}/bin"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

# require WHAT... : exit naming every missing prerequisite.
require() {
  local missing=()
  for what; do
    case "$what" in
      go) command -v go >/dev/null || missing+=("go (the Go toolchain, >= 1.26)") ;;
      gcc) command -v gcc >/dev/null || missing+=("gcc (runc is built with cgo)") ;;
      pkg-config) command -v pkg-config >/dev/null || missing+=("pkg-config (apt-get install pkg-config)") ;;
      libseccomp)
        command -v pkg-config >/dev/null && pkg-config --exists libseccomp ||
          missing+=("libseccomp-dev (apt-get install libseccomp-dev; runc's seccomp support needs it)") ;;
    esac
  done
  if [ ${#missing[@]} -gt 0 ]; then
    printf 'build-realnode: missing prerequisite: %s\n' "${missing[@]}" >&2
    exit 1
  fi
}
require go

module_version() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }

# build NAME VERSION DIR CGO TAGS LDFLAGS PACKAGE... : go build the packages of the wrapper module DIR
# into $cache/NAME-VERSION unless every binary is already there; adds that directory to `dirs`.
dirs=()
build() {
  local name=$1 version=$2 dir=$3 cgo=$4 tags=$5 ldflags=$6
  shift 6
  local out="$cache/$name-$version" pkg ok=1
  for pkg in "$@"; do [ -x "$out/$(basename "$pkg")" ] || ok=0; done
  if [ $ok = 1 ]; then dirs+=("$out"); return; fi
  local start
  start=$(date +%s)
  if [ "$cgo" = 1 ]; then require gcc pkg-config libseccomp; fi
  echo ">> building $name $version" >&2
  rm -rf "$out.partial" && mkdir -p "$out.partial"
  (cd "$dir" && CGO_ENABLED=$cgo go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$out.partial/" "$@")
  rm -rf "$out" && mv "$out.partial" "$out"
  echo ">> $name built in $(( $(date +%s) - start ))s" >&2
  dirs+=("$out")
}

k8s=$(module_version "$hack/controlplane/kubernetes" k8s.io/kubernetes)
containerd=$(module_version "$hack/realnode/containerd" github.com/containerd/containerd/v2)
runc=$(module_version "$hack/realnode/runc" github.com/opencontainers/runc)
cni=$(module_version "$hack/realnode/cni" github.com/containernetworking/plugins)
crictl=$(module_version "$hack/realnode/crictl" sigs.k8s.io/cri-tools)

minor=$(echo "$k8s" | cut -d. -f2)
k8s_ld="-s -w -X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
ctrd_ld="-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd"
runc_ld="-s -w -X main.version=${runc#v}"
crictl_ld="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$crictl"

build kubelet "$k8s" "$hack/controlplane/kubernetes" 0 "" "$k8s_ld" k8s.io/kubernetes/cmd/kubelet
build containerd "$containerd" "$hack/realnode/containerd" 0 "no_btrfs no_devmapper no_zfs" "$ctrd_ld" \
  github.com/containerd/containerd/v2/cmd/containerd \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
  github.com/containerd/containerd/v2/cmd/ctr
build runc "$runc" "$hack/realnode/runc" 1 "seccomp" "$runc_ld" github.com/opencontainers/runc
build cni-plugins "$cni" "$hack/realnode/cni" 0 "" "-s -w" \
  github.com/containernetworking/plugins/plugins/main/loopback \
  github.com/containernetworking/plugins/plugins/main/bridge \
  github.com/containernetworking/plugins/plugins/ipam/host-local \
  github.com/containernetworking/plugins/plugins/meta/portmap
build crictl "$crictl" "$hack/realnode/crictl" 0 "" "$crictl_ld" sigs.k8s.io/cri-tools/cmd/crictl

# One directory to put on PATH; the CNI plugins also go to a directory of their own (containerd's
# bin_dirs wants plugins only).
node="$cache/realnode-kubelet-$k8s-containerd-$containerd-runc-$runc-cni-$cni-crictl-$crictl"
if [ ! -d "$node" ]; then
  mkdir -p "$node.partial/cni"
  for d in "${dirs[@]}"; do
    case "$d" in
      */cni-plugins-*) ln -sf "$d"/* "$node.partial/cni/" ;;
      *) ln -sf "$d"/* "$node.partial/" ;;
    esac
  done
  rm -rf "$node" && mv "$node.partial" "$node"
fi
echo "$node"
