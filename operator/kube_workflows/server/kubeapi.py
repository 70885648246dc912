"""The API calls `kwf serve` makes, all in one namespace, with the server's own identity (blocking;
the app runs them in worker threads). Errors come back as `ApiException` or the CLI's `CliError`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kube_workflows.cli import api, watch
from kube_workflows.models import GROUP, PLURAL, VERSION
from kube_workflows.models.workflowtemplate import PLURAL as TEMPLATES

Json = dict[str, Any]


def template_names(namespace: str) -> list[str]:
    from kube_workflows import kube

    listed = api.raw(
        kube.custom_objects().list_namespaced_custom_object,
        namespace=namespace,
        group=GROUP,
        version=VERSION,
        plural=TEMPLATES,
    )
    return sorted(str(t["metadata"]["name"]) for t in listed.get("items") or [])


def runs(namespace: str) -> list[Json]:
    from kube_workflows import kube

    listed = api.raw(kube.custom_objects().list_namespaced_custom_object, namespace=namespace, **kube.WORKFLOWRUN)
    return list(listed.get("items") or [])


def template(namespace: str, name: str) -> Json | None:
    from kube_workflows import kube

    get = kube.custom_objects().get_namespaced_custom_object
    return _or_none(get, namespace, name, GROUP, VERSION, TEMPLATES)


def template_exists(namespace: str, name: str) -> bool:
    return template(namespace, name) is not None


def find_run(namespace: str, name: str) -> Json | None:
    """The run (a sensitive run's result put back from its outputs Secret, if readable), or None."""
    from kube_workflows import kube

    get = kube.custom_objects().get_namespaced_custom_object
    run = _or_none(get, namespace, name, GROUP, VERSION, PLURAL)
    return api.with_outputs(run) if run is not None else None


def _or_none(get: Any, namespace: str, name: str, group: str, version: str, plural: str) -> Json | None:
    from kubernetes.client.exceptions import ApiException

    try:
        return api.raw(get, group=group, version=version, namespace=namespace, plural=plural, name=name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def create_run(namespace: str, body: Json) -> Json:
    """Create a run; a taken name comes back as the API's 409."""
    from kube_workflows import kube

    create = kube.custom_objects().create_namespaced_custom_object
    return api.raw(create, namespace=namespace, body=body, **kube.WORKFLOWRUN)


def append_event(namespace: str, name: str, entry: Json, tries: int = 5) -> Json:
    """Send `entry` as `kwf send-event` does (`specs.event_patch`); a failed `test` op (spec.events
    changed since it was read) comes back as 422: read again and retry."""
    from kubernetes.client.exceptions import ApiException

    from kube_workflows.cli import specs

    for attempt in range(1, tries + 1):
        patch, _ = specs.event_patch(api.read_run(namespace, name), entry)
        try:
            return api.patch_run(namespace, name, patch, api.JSON_PATCH)
        except ApiException as exc:
            if exc.status != 422 or patch[0]["op"] != "test" or attempt == tries:
                raise
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises


def cancel(namespace: str, name: str) -> Json:
    return api.patch_run(namespace, name, {"spec": {"cancel": True}}, api.MERGE_PATCH)


def versions(namespace: str, name: str) -> Iterator[Json]:
    """Every new version of a run, through a watch (see `kwf watch`); ends when it is deleted."""
    try:
        yield from watch.run_versions(namespace, name)
    except watch.RunGone:
        return
