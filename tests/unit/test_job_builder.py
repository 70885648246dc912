from typing import Any

from kube_workflows.builders import build_runner_identity, build_runner_job
from kube_workflows.models import exit_codes
from kube_workflows.models.workflowrun import CheckpointStoreSpec


def run(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kube-workflows.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {"name": "my-run", "namespace": "team-a", "uid": "uid-1", "generation": 1},
        "spec": {"workflow": "pkg.mod:Flow", **spec},
    }


def container(job: dict[str, Any]) -> dict[str, Any]:
    c: dict[str, Any] = job["spec"]["template"]["spec"]["containers"][0]
    return c


def test_job_is_owned_labelled_and_runs_the_runner() -> None:
    job = build_runner_job(run(), "img:1")
    assert job["metadata"]["name"] == "my-run"
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "kube-workflows.dev/v1alpha1",
            "kind": "WorkflowRun",
            "name": "my-run",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert job["spec"]["template"]["metadata"]["labels"]["kube-workflows.dev/run"] == "my-run"
    assert container(job)["command"] == ["kwf", "runner"]
    assert container(job)["image"] == "img:1"
    env = {e["name"]: e for e in container(job)["env"]}
    assert env["KWF_RUN_NAME"]["value"] == "my-run"
    assert env["KWF_RUN_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_failure_policy_fails_fast_on_workflow_errors_and_retries_crashes() -> None:
    job = build_runner_job(run(retry={"maxRestarts": 5}, timeoutSeconds=600), "img")
    spec = job["spec"]
    assert spec["backoffLimit"] == 5
    assert spec["activeDeadlineSeconds"] == 600
    assert spec["podReplacementPolicy"] == "Failed"
    fail_rule, not_claimed_rule, ignore_rule = spec["podFailurePolicy"]["rules"]
    assert fail_rule["action"] == "FailJob"
    assert set(fail_rule["onExitCodes"]["values"]) == {exit_codes.WORKFLOW_RAISED, exit_codes.INVALID_RUN}
    assert exit_codes.INFRASTRUCTURE not in fail_rule["onExitCodes"]["values"]  # retried
    assert ignore_rule == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    # A late pod that found the run finished, cancelled or suspended neither fails the Job nor uses a retry.
    assert not_claimed_rule["action"] == "Ignore"
    assert not_claimed_rule["onExitCodes"]["values"] == [exit_codes.NOT_CLAIMED]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_defaults_when_unset() -> None:
    spec = build_runner_job(run(), "img")["spec"]
    assert spec["backoffLimit"] == 3
    assert "activeDeadlineSeconds" not in spec


def test_pod_meets_restricted_pod_security() -> None:
    pod = build_runner_job(run(), "img")["spec"]["template"]["spec"]
    sc = container({"spec": {"template": {"spec": pod}}})["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_template_fields_reach_the_pod() -> None:
    job = build_runner_job(
        run(
            image="mine:2",
            template={
                "env": [{"name": "OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                "resources": {"limits": {"memory": "1Gi"}},
                "nodeSelector": {"pool": "cpu"},
                "tolerations": [{"key": "spot", "operator": "Exists"}],
                "volumes": [{"name": "data", "emptyDir": {}}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "labels": {"team": "a"},
                "hostNetwork": True,
            },
        ),
        "default",
    )
    pod = job["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert "hostNetwork" not in build_runner_job(run(), "default")["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["image"] == "mine:2"
    assert c["env"][-1]["name"] == "OPENAI_API_KEY"
    assert c["resources"] == {"limits": {"memory": "1Gi"}}
    assert c["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert pod["nodeSelector"] == {"pool": "cpu"}
    assert pod["volumes"] == [{"name": "data", "emptyDir": {}}]
    assert job["spec"]["template"]["metadata"]["labels"]["team"] == "a"
    assert pod["serviceAccountName"] == "my-run-runner"


def test_long_names_are_shortened_stably() -> None:
    long = run()
    long["metadata"]["name"] = "x" * 100
    first, second = build_runner_job(long, "i"), build_runner_job(long, "i")
    assert len(first["metadata"]["name"]) <= 63
    assert first["metadata"]["name"] == second["metadata"]["name"]


def test_runner_identity_grants_only_its_own_run() -> None:
    sa, role, binding = build_runner_identity(run(contextFrom={"name": "earlier"}))
    assert sa["kind"] == "ServiceAccount" and sa["metadata"]["name"] == "my-run-runner"
    read, write, chunks, source_chunks = role["rules"]
    assert chunks["resources"] == ["configmaps"] and chunks["verbs"] == ["get", "update"]
    assert "my-run-ckpt-a-0" in chunks["resourceNames"] and "my-run-ckpt-b-0" in chunks["resourceNames"]
    # It may create nothing: the operator creates its objects (a runner that may create Secrets can mint tokens).
    assert all("create" not in rule["verbs"] for rule in role["rules"])
    assert "earlier-ckpt-a-0" in source_chunks["resourceNames"] and source_chunks["verbs"] == ["get"]
    assert read["resourceNames"] == ["my-run", "earlier"] and read["verbs"] == ["get"]
    assert write["resources"] == ["workflowruns/status"] and write["resourceNames"] == ["my-run"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "my-run-runner", "namespace": "team-a"}]


def test_a_runner_may_write_its_own_outputs_object_by_name() -> None:
    _, role, _ = build_runner_identity(run(checkpoint={"sensitive": True}))
    chunks = role["rules"][2]
    assert chunks["resources"] == ["secrets"] and "my-run-outputs" in chunks["resourceNames"]
    _, plain, _ = build_runner_identity(run())  # a result over spec.resultLimitBytes goes there
    assert plain["rules"][2]["resources"] == ["configmaps"] and "my-run-outputs" in plain["rules"][2]["resourceNames"]


def test_user_service_account_means_no_generated_identity() -> None:
    assert build_runner_identity(run(template={"serviceAccountName": "mine"})) == []
    pod = build_runner_job(run(template={"serviceAccountName": "mine"}), "i")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "mine"


def test_sensitive_checkpoints_go_to_secrets() -> None:
    _, role, _ = build_runner_identity(run(checkpoint={"sensitive": True}))
    assert [r["resources"] for r in role["rules"][2:]] == [["secrets"]]


def test_later_jobs_are_named_from_the_runs_uid_so_no_other_run_can_hold_the_name() -> None:
    first = run()
    first["metadata"]["uid"] = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    assert build_runner_job(first, "i")["metadata"]["name"] == "my-run"
    assert build_runner_job(first, "i", segment=2)["metadata"]["name"] == "my-run-0a1b2c3d-s2"
    # Run "my-run-s2" is named what "my-run"'s second Job was named before.
    other = run()
    other["metadata"].update(name="my-run-s2", uid="99999999-0000-0000-0000-000000000000")
    assert (
        build_runner_job(other, "i")["metadata"]["name"] != build_runner_job(first, "i", segment=2)["metadata"]["name"]
    )


def test_a_long_runs_later_jobs_fit_a_label_and_stay_distinct() -> None:
    long = run()
    long["metadata"].update(name="x" * 63, uid="0a1b2c3d-4e5f-6789-abcd-ef0123456789")
    names = {build_runner_job(long, "i", segment=n)["metadata"]["name"] for n in (1, 2, 3, 12)}
    assert len(names) == 4 and all(len(n) <= 63 for n in names)


POSTGRES = {"postgres": {"dsnSecretRef": {"name": "kwf-postgres", "key": "dsn"}}}
DSN_ENV = {"name": "KWF_CHECKPOINT_DSN", "valueFrom": {"secretKeyRef": {"name": "kwf-postgres", "key": "dsn"}}}


def test_a_postgres_store_reaches_the_runner_as_env_from_its_secret_and_no_role_rule() -> None:
    wfr = run(checkpoint={"store": POSTGRES})
    assert DSN_ENV in container(build_runner_job(wfr, "img"))["env"]
    _, role, _ = build_runner_identity(wfr)
    assert all("secrets" not in r["resources"] for r in role["rules"])


def test_the_installs_default_store_applies_to_runs_that_name_none() -> None:
    default = CheckpointStoreSpec.model_validate(POSTGRES)
    assert DSN_ENV in container(build_runner_job(run(), "img", default_store=default))["env"]
    assert all(e["name"] != "KWF_CHECKPOINT_DSN" for e in container(build_runner_job(run(), "img"))["env"])
    own = {"postgres": {"dsnSecretRef": {"name": "team-db", "key": "url"}}}
    env = container(build_runner_job(run(checkpoint={"store": own}), "img", default_store=default))["env"]
    assert [e["valueFrom"]["secretKeyRef"] for e in env if e["name"] == "KWF_CHECKPOINT_DSN"] == [
        {"name": "team-db", "key": "url"}
    ]
