from pathlib import Path

import yaml

from kube_workflows.models.crd import render_crd_yaml, workflowrun_crd

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "workflowruns.kube-workflows.dev.yaml"


def test_committed_crd_matches_the_models() -> None:
    assert CRD_FILE.read_text() == render_crd_yaml(), "crds/ drifted from the models: run `make crds`"


def test_helm_chart_ships_the_same_crd() -> None:
    chart_crd = REPO / "charts" / "kube-workflows" / "crds" / CRD_FILE.name
    assert chart_crd.read_text() == CRD_FILE.read_text(), "the chart's CRD drifted: run `make crds`"


def test_schema_is_structural_and_documented() -> None:
    crd = workflowrun_crd()
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    text = yaml.safe_dump(schema)
    assert "$ref" not in text and "anyOf" not in text and "title" not in text
    spec = schema["properties"]["spec"]
    assert spec["required"] == ["workflow"]
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
