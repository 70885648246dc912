"""A local Kubernetes control plane plus a local node, for development and tests only.

`controlplane` starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler (built from
source by `hack/build-controlplane.sh`) as local processes; `node` is a stand-in for a kubelet that
runs pods' containers as local processes. Neither is meant for production.
"""
