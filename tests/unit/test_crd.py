from pathlib import Path

import pytest
import yaml

from kube_workflows.models.crd import CRDS, cronworkflowrun_crd, render_crd_yaml, workflowrun_crd

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("plural", sorted(CRDS))
def test_committed_crds_match_the_models(plural: str) -> None:
    committed = REPO / "crds" / f"{plural}.kube-workflows.dev.yaml"
    assert committed.read_text() == render_crd_yaml(plural), "crds/ drifted from the models: run `make crds`"
    chart_crd = REPO / "charts" / "kube-workflows" / "crds" / committed.name
    assert chart_crd.read_text() == committed.read_text(), "the chart's CRD drifted: run `make crds`"


def test_every_crd_file_is_generated() -> None:
    assert sorted(p.name for p in (REPO / "crds").glob("*.yaml")) == sorted(
        f"{p}.kube-workflows.dev.yaml" for p in CRDS
    )


def test_the_cron_crd_embeds_the_run_spec_without_its_immutability_rules() -> None:
    crd = cronworkflowrun_crd()
    version = crd["spec"]["versions"][0]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert crd["spec"]["names"]["shortNames"] == ["cwfr"] and spec["required"] == ["schedule", "runTemplate"]
    run_spec = spec["properties"]["runTemplate"]["properties"]["spec"]
    assert "workflow" in run_spec["properties"] and "x-kubernetes-validations" not in run_spec  # a template is edited
    assert spec["properties"]["concurrencyPolicy"]["enum"] == ["Allow", "Forbid", "Replace"]
    assert all("description" in p for p in spec["properties"].values())
    assert "default:" not in yaml.safe_dump(crd)


def test_schema_is_structural_and_documented() -> None:
    crd = workflowrun_crd()
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    text = yaml.safe_dump(schema)
    assert "$ref" not in text and "anyOf" not in text and "title" not in text
    spec = schema["properties"]["spec"]
    assert "required" not in spec  # workflow, or templateRef: a CEL rule says which is missing
    assert spec["x-kubernetes-validations"][0]["rule"] == "has(self.workflow) || has(self.templateRef)"
    assert "module" in spec["properties"]["workflow"]["description"]
    # every spec field carries a description for `kubectl explain`
    assert all("description" in p for p in spec["properties"].values())
    assert version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["shortNames"] == ["wfr"]
    assert [c["name"] for c in version["additionalPrinterColumns"]][:4] == [
        "Phase",
        "Step",
        "Checkpoint",
        "Restarts",
    ]


def test_no_server_side_defaults() -> None:
    # Defaults applied by the API server show up as drift in GitOps tools; the runtime applies them.
    assert "default:" not in yaml.safe_dump(workflowrun_crd())


def test_exclusive_minimum_uses_openapi_v3_0_form() -> None:
    spec = workflowrun_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    step_timeout = spec["properties"]["stepTimeoutSeconds"]
    assert step_timeout["minimum"] == 0 and step_timeout["exclusiveMinimum"] is True
