"""One source of truth for dependencies and routes."""

from __future__ import annotations

import re
import tomllib

from skms.sam_template import load_template, routes_from_template
from tests.conftest import REPO_ROOT, TEMPLATE


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", r.strip(), maxsplit=1)[0].lower() for r in requirements if r.strip()}


def test_layer_requirements_match_the_distribution() -> None:
    # Given the layer's requirements.txt and pyproject's runtime dependencies
    lines = (REPO_ROOT / "layers/kms_core/requirements.txt").read_text().splitlines()
    layer = {line for line in lines if line.strip() and not line.startswith("#")}
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    # Then they name the same packages with the same bounds
    # (boto3 comes with the Lambda runtime; PyYAML is only for the local server)
    assert set(layer) == {d for d in project if _names([d]) - {"boto3", "pyyaml"}}


def test_every_function_has_its_route_code_and_events() -> None:
    routes = routes_from_template(TEMPLATE)
    assert {(r.method, r.path) for r in routes} >= {
        ("POST", "/v1.0/{project_id}/kms/create-key"),
        ("POST", "/v1.0/{project_id}/kms/create-datakey"),
        ("POST", "/v1.0/{project_id}/kms/decrypt-datakey"),
    }
    for route in routes:
        assert (route.code_uri / "app.py").is_file(), route.function
        events = REPO_ROOT / "events" / route.code_uri.name
        assert (events / "api.json").is_file(), events
        assert (events / "direct.json").is_file(), events


def test_every_function_uses_the_layer_and_has_least_privilege_policies() -> None:
    resources = load_template(TEMPLATE)["Resources"]
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions
    globals_layers = load_template(TEMPLATE)["Globals"]["Function"]["Layers"]
    assert {"Ref": "KmsCoreLayer"} in globals_layers
    managed = {
        k: v["Properties"]["PolicyDocument"]
        for k, v in resources.items()
        if v["Type"] == "AWS::IAM::ManagedPolicy"
    }
    for name, function in functions.items():
        for policy in function["Properties"].get("Policies", []):
            # A policy is a shared managed policy of the template (!Ref) or an inline document.
            document = managed[policy["Ref"]] if "Ref" in policy else policy
            for statement in document["Statement"]:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert not [a for a in actions if a.endswith("*")], name
                assert statement["Resource"] != "*", name


def test_powertools_never_logs_events() -> None:
    variables = load_template(TEMPLATE)["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"


def test_dev_tools_are_pinned_and_runtime_dependencies_are_ranges() -> None:
    # Given pyproject's dependencies
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    # Then every dev tool has one exact version (a fresh clone lints, types and tests the same way)
    assert [d for d in project["optional-dependencies"]["dev"] if "==" not in d] == []
    # And the runtime keeps ranges, so the layer takes security releases
    assert [d for d in project["dependencies"] if "==" in d] == []
