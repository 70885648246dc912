"""gitops/argocd/health.lua run the way Argo CD runs it, on the WorkflowRuns in gitops/argocd/testdata/.

Argo CD (util/lua/lua.go) runs a health script on gopher-lua (Lua 5.1) with only the base, table and
a reduced os library unless `resource.customizations.useOpenLibs.<group>_<kind>` is set (no string
library, so strings have no methods either). The object is the global `obj`: a table converted from
the resource's JSON, where absent keys and JSON null are nil and every number is a Lua number. The
script returns a table whose `status` and `message` are the health. gitops/argocd/health_test.yaml is
the test table, in the layout of Argo CD's resource_customizations/*/health_test.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

from kube_workflows.models import Phase, WorkflowRun

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "gitops" / "argocd"
HEALTH_KEY = "resource.customizations.health.kube-workflows.dev_WorkflowRun"
HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

# Argo CD opens these (plus `package`); everything else, `string` included, is absent.
_SANDBOX = """
local script = ...
debug.setmetatable("", nil)  -- without the string library a string has no methods
local env = {
  assert = assert, error = error, getmetatable = getmetatable, ipairs = ipairs, next = next,
  pairs = pairs, pcall = pcall, print = print, rawequal = rawequal, rawget = rawget, rawset = rawset,
  select = select, setmetatable = setmetatable, tonumber = tonumber, tostring = tostring, type = type,
  unpack = unpack, xpcall = xpcall, _VERSION = _VERSION,
  table = table,
  os = {time = os.time, date = os.date, clock = os.clock, difftime = os.difftime},
}
env._G = env
local chunk = assert(loadstring(script, "=health.lua"))
setfenv(chunk, env)
return function(obj)
  env.obj = obj
  return chunk()
end
"""


class _JsonLikeLoader(yaml.SafeLoader):
    """YAML → the values JSON would carry: timestamps stay strings (as sigs.k8s.io/yaml leaves them)."""


_JsonLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_JsonLikeLoader)  # a SafeLoader subclass


def run_health(script: str, obj: dict[str, Any]) -> dict[str, Any]:
    lua = lua51.LuaRuntime(unpack_returned_tuples=False)
    health = lua.execute(_SANDBOX, script)
    result = health(lua.table_from(obj, recursive=True))
    assert lua.eval("type")(result) == "table", f"health.lua returned {result!r}, not a table"
    return dict(result.items())


HEALTH_LUA = (ARGOCD / "health.lua").read_text()
CASES = load_yaml(ARGOCD / "health_test.yaml")["tests"]


@pytest.mark.parametrize("case", CASES, ids=[c["inputPath"].removeprefix("testdata/") for c in CASES])
def test_health(case: dict[str, Any]) -> None:
    obj = load_yaml(ARGOCD / case["inputPath"])
    assert run_health(HEALTH_LUA, obj) == case["healthStatus"]


def test_every_testdata_file_is_a_case_and_every_status_is_valid() -> None:
    listed = {c["inputPath"] for c in CASES}
    on_disk = {f"testdata/{p.name}" for p in (ARGOCD / "testdata").glob("*.yaml")}
    assert listed == on_disk
    assert {c["healthStatus"]["status"] for c in CASES} <= HEALTH_STATUSES


@pytest.mark.parametrize("path", sorted((ARGOCD / "testdata").glob("*.yaml")), ids=lambda p: p.name)
def test_testdata_still_matches_the_workflowrun_schema(path: Path) -> None:
    # The objects were captured from a real cluster; a renamed or removed status field fails here.
    WorkflowRun.model_validate(load_yaml(path))


def test_every_phase_has_a_case() -> None:
    phases = {(load_yaml(ARGOCD / c["inputPath"]).get("status") or {}).get("phase") for c in CASES}
    assert {str(p) for p in Phase} <= phases


def test_argocd_cm_patch_embeds_health_lua_verbatim() -> None:
    patch = load_yaml(ARGOCD / "argocd-cm-patch.yaml")
    assert (patch["kind"], patch["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    assert patch["data"][HEALTH_KEY] == HEALTH_LUA


def test_objects_convert_like_argo_cd() -> None:
    # JSON null and absent keys are both nil; lists are 1-based sequences; numbers print without ".0".
    probe = (
        "local s = obj.status\n"
        "return {status = 'Healthy', message = type(s.currentStep) .. ' ' .. type(s.missing) .. ' '"
        " .. #s.conditions .. ' ' .. s.conditions[2].type .. ' ' .. s.restarts}"
    )
    obj = {"status": {"currentStep": None, "conditions": [{"type": "Succeeded"}, {"type": "Running"}], "restarts": 2}}
    assert run_health(probe, obj) == {"status": "Healthy", "message": "nil nil 2 Running 2"}


def test_the_sandbox_has_no_string_library() -> None:
    with pytest.raises(Exception, match="string"):
        run_health("return {status = string.format('%s', 'Healthy')}", {})
    with pytest.raises(Exception, match="index"):
        run_health("return {status = ('Healthy'):lower()}", {})


# --- CronWorkflowRun: gitops/argocd/cron-health.lua on the status the operator's pure decide() writes ---

CRON_HEALTH_LUA = (ARGOCD / "cron-health.lua").read_text()
CRON_HEALTH_KEY = "resource.customizations.health.kube-workflows.dev_CronWorkflowRun"


def _cron_health(spec: dict[str, Any], *, generation: int = 1, decided: bool = True) -> dict[str, Any]:
    from datetime import UTC, datetime

    from kube_workflows.controller import schedule

    cron = {
        "apiVersion": "kube-workflows.dev/v1alpha1",
        "kind": "CronWorkflowRun",
        "metadata": {
            "name": "nightly",
            "namespace": "ns",
            "generation": generation,
            "creationTimestamp": "2026-11-25T00:00:00Z",
        },
        "spec": {"schedule": "0 2 * * *", "runTemplate": {"spec": {"workflow": "pkg.mod:Flow"}}, **spec},
    }
    if decided:
        cron["status"] = schedule.decide(cron, [], datetime(2026, 11, 25, 12, tzinfo=UTC)).status
    if generation > 1:
        cron["metadata"]["generation"] = generation + 1  # an edit the operator has not read yet
    return run_health(CRON_HEALTH_LUA, cron)


def test_cron_health_follows_the_ready_condition() -> None:
    assert _cron_health({}) == {"status": "Healthy", "message": "Scheduled: next run at 2026-11-26T02:00:00Z"}
    assert _cron_health({"suspend": True}) == {
        "status": "Suspended",
        "message": "Suspended (spec.suspend): no new runs; set it to false to schedule again",
    }
    degraded = _cron_health({"schedule": "not a schedule"})
    assert degraded["status"] == "Degraded"
    assert degraded["message"].startswith("InvalidSpec: spec.schedule")
    assert _cron_health({}, decided=False)["status"] == "Progressing"
    assert _cron_health({}, generation=2)["status"] == "Progressing"


def test_argocd_cm_patch_embeds_cron_health_lua_verbatim() -> None:
    assert load_yaml(ARGOCD / "argocd-cm-patch.yaml")["data"][CRON_HEALTH_KEY] == CRON_HEALTH_LUA
