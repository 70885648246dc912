"""A local Kubernetes control plane plus a local node, for development and tests only.

`controlplane` starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler (built from
source by `hack/build-controlplane.sh`) as local processes; `node` is a stand-in for a kubelet that
runs pods' containers as local processes; `cli` is `kwf dev`, which the product CLI finds through the
`kube_workflows.cli` entry point. None of it is meant for production, and none of it ships in the
`kube-workflows` wheel or image.
"""
