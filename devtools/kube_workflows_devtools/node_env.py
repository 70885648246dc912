"""Container environment of the local node: what a kubelet resolves before it starts a container.

Pure functions, unit-tested without a cluster: `$(VAR)` expansion, `env`/`envFrom` resolution
against Secrets and ConfigMaps, the downward API, `command` + `args`, the base environment every
container starts from, and the service-account plumbing (token mount, pod kubeconfig).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Json = dict[str, Any]
Lookup = Callable[[str, str], Mapping[str, str] | None]
"""(namespace, name) -> the decoded data of a Secret or ConfigMap, or None when it does not exist."""

LOCAL_IP = "127.0.0.1"
SA_MOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_PASSTHROUGH_ENV = ("LANG", "LC_ALL", "TZ", "PYTHONPATH")
_MOUNT_SCRIPT = f'mkdir -p {SA_MOUNT} 2>/dev/null; mount --bind "$KWF_SA_DIR" {SA_MOUNT} && exec "$@"'
# Benchmarks only (`--fake-run`): pods annotated so run this instead of their command.
FAKE_RUN_ANNOTATION = "kube-workflows.dev/fake-run"
FAKE_RUN_ARGV = ("sleep", "infinity")


class ContainerConfigError(Exception):
    """A container cannot be configured (the kubelet's CreateContainerConfigError); retried later."""


def expand(value: str, variables: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: defined names are replaced, `$$` is `$`, anything else stays."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "$" and i + 1 < len(value):
            if value[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            end = value.find(")", i + 2) if value[i + 1] == "(" else -1
            if end != -1:
                name = value[i + 2 : end]
                out.append(variables[name] if name in variables else value[i : end + 1])
                i = end + 1
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


_META_KEY = re.compile(r"^metadata\.(labels|annotations)\['([^']*)'\]$")


def field_ref_value(pod: Json, path: str) -> str:
    """The value of a downward-API `fieldRef.fieldPath` for env vars."""
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    match = _META_KEY.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    values = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": LOCAL_IP,
        "status.podIPs": LOCAL_IP,
        "status.hostIP": LOCAL_IP,
        "status.hostIPs": LOCAL_IP,
    }
    if path not in values:
        raise ContainerConfigError(f"fieldRef.fieldPath {path!r} is not supported by the local node")
    return str(values[path] or "")


def _source_data(kind: str, namespace: str, ref: Json, lookup: Lookup) -> Mapping[str, str] | None:
    data = lookup(namespace, ref.get("name", ""))
    if data is None and not ref.get("optional"):
        raise ContainerConfigError(f'{kind.lower()} "{ref.get("name", "")}" not found')
    return data


def _key_ref(kind: str, namespace: str, ref: Json, lookup: Lookup) -> str | None:
    data = _source_data(kind, namespace, ref, lookup)
    if data is None:
        return None
    key = ref.get("key", "")
    if key not in data:
        if ref.get("optional"):
            return None
        raise ContainerConfigError(f"couldn't find key {key} in {kind} {namespace}/{ref.get('name', '')}")
    return data[key]


def resolve_container_env(
    container: Json, pod: Json, lookup_secret: Lookup, lookup_configmap: Lookup
) -> dict[str, str]:
    """The variables a kubelet gives `container`: `envFrom` first, then `env` (a later name wins).

    `$(VAR)` in `env[].value` expands against the variables defined before it. A missing Secret,
    ConfigMap or key that is not `optional` raises ContainerConfigError, like the kubelet.
    """
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        for kind, key, lookup in (
            ("ConfigMap", "configMapRef", lookup_configmap),
            ("Secret", "secretRef", lookup_secret),
        ):
            if key in source:
                data = _source_data(kind, namespace, source[key], lookup) or {}
                env.update({source.get("prefix", "") + k: v for k, v in data.items()})
    for var in container.get("env") or []:
        name, source = var["name"], var.get("valueFrom")
        value: str | None
        if source is None:
            value = expand(var.get("value", ""), env)
        elif "fieldRef" in source:
            value = field_ref_value(pod, source["fieldRef"]["fieldPath"])
        elif "secretKeyRef" in source:
            value = _key_ref("Secret", namespace, source["secretKeyRef"], lookup_secret)
        elif "configMapKeyRef" in source:
            value = _key_ref("ConfigMap", namespace, source["configMapKeyRef"], lookup_configmap)
        else:
            raise ContainerConfigError(f"env {name}: valueFrom.{next(iter(source), '?')} is not supported")
        if value is not None:
            env[name] = value
    return env


def container_argv(container: Json, env: Mapping[str, str]) -> list[str]:
    """`command` + `args` with `$(VAR)` expanded, as the kubelet does."""
    if not container.get("command"):
        raise ContainerConfigError(
            f"container {container['name']!r} has no command; the local node runs `command` + `args` "
            "as a local process and cannot run an image's entrypoint"
        )
    return [expand(a, env) for a in [*container["command"], *(container.get("args") or [])]]


def fakes_run(pod: Json, enabled: bool) -> bool:
    """Whether a node started with `--fake-run` (`enabled`) runs `FAKE_RUN_ARGV` for this pod's containers:
    a container that stays Running, costs next to nothing, and stops when the pod is deleted. For the
    operator-only part of the scale benchmark (`bench/scale.py`), never for real work."""
    annotations = pod.get("metadata", {}).get("annotations") or {}
    return enabled and annotations.get(FAKE_RUN_ANNOTATION) == "true"


def base_env(pod: Json, server: str, home: Path, host_env: Mapping[str, str]) -> dict[str, str]:
    """What every container starts from: no leak of the node's own env beyond a few basics."""
    url = urlsplit(server)
    env = {k: host_env[k] for k in _PASSTHROUGH_ENV if k in host_env}
    # The venv of the node is the "image": its python and console scripts come first on PATH.
    path = host_env.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        PATH=os.pathsep.join([os.path.dirname(sys.executable), path]),
        HOME=str(home),
        HOSTNAME=pod["metadata"]["name"],
        KUBERNETES_SERVICE_HOST=url.hostname or LOCAL_IP,
        KUBERNETES_SERVICE_PORT=str(url.port or 443),
        KWF_LOCAL_NODE="1",
    )
    return env


def volume_env_name(volume: str) -> str:
    return "KWF_VOLUME_" + re.sub(r"[^A-Za-z0-9]", "_", volume).upper()


def mount_namespace_argv(argv: Sequence[str]) -> list[str]:
    """Run `argv` in its own mount namespace with $KWF_SA_DIR bind-mounted on SA_MOUNT."""
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", _MOUNT_SCRIPT, "sh", *argv]


def pod_kubeconfig(server: str, ca: Path, token_file: Path, namespace: str) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        # tokenFile, not token: kubectl and the Python client re-read it, so refreshes apply.
        "users": [{"name": "pod", "user": {"tokenFile": str(token_file)}}],
        "contexts": [{"name": "pod", "context": {"cluster": "local", "user": "pod", "namespace": namespace}}],
        "current-context": "pod",
    }


def wants_service_account_token(pod: Json) -> bool:
    """Whether the pod gets a token: not opted out, and admission added the token volume."""
    spec = pod["spec"]
    if spec.get("automountServiceAccountToken") is False:
        return False
    # The ServiceAccount admission plugin adds a projected `kube-api-access-*` volume when the pod
    # or its ServiceAccount want a token, so its presence already folds in both settings.
    return any(
        "serviceAccountToken" in source
        for volume in spec.get("volumes") or []
        for source in (volume.get("projected") or {}).get("sources") or []
    )
