"""Reading routes and handlers from template.yaml: the one source of truth for the API's shape."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml


class _CfnLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation short-form tags (!Ref, !GetAtt, !Sub, ...)."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return document


@dataclass(frozen=True)
class FunctionRef:
    logical_id: str
    code_uri: Path
    handler: str  # module.function


@dataclass(frozen=True)
class Route:
    function: str  # logical id
    method: str  # upper case
    path: str  # API Gateway resource path, e.g. /v1.0/{project_id}/kms/create-key
    code_uri: Path
    handler: str  # module.function
    pattern: re.Pattern[str] = field(compare=False)
    authorizer: FunctionRef | None = None  # the Lambda REQUEST authorizer guarding this route

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        return None if found is None else found.groupdict()


def _compile(resource_path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", resource_path)
    regex = ""
    for part in parts:
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            regex += f"(?P<{name[:-1]}>.+)" if name.endswith("+") else f"(?P<{name}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(regex)


def _function_ref(resources: dict[str, Any], logical_id: str, root: Path) -> FunctionRef:
    props = resources[logical_id]["Properties"]
    return FunctionRef(logical_id, (root / props["CodeUri"]).resolve(), props["Handler"])


def _authorizer_for(resources: dict[str, Any], event_props: dict[str, Any], root: Path) -> FunctionRef | None:
    """The Lambda authorizer of an Api event: its own Auth.Authorizer, else its API's default."""
    api_ref = event_props.get("RestApiId")
    api_id = api_ref.get("Ref") if isinstance(api_ref, dict) else None
    auth = (resources.get(api_id, {}).get("Properties") or {}).get("Auth") or {} if api_id else {}
    name = (event_props.get("Auth") or {}).get("Authorizer", auth.get("DefaultAuthorizer"))
    if not name or name == "NONE":
        return None
    arn = auth["Authorizers"][name]["FunctionArn"]
    logical_id = arn["Fn::GetAtt"][0] if isinstance(arn, dict) else str(arn)
    return _function_ref(resources, logical_id, root)


def gateway_responses(template_path: Path) -> dict[str, dict[str, Any]]:
    """GatewayResponses of the template's APIs, by response type (UNAUTHORIZED, ...)."""
    resources = load_template(template_path).get("Resources") or {}
    found: dict[str, dict[str, Any]] = {}
    for resource in resources.values():
        if resource.get("Type") == "AWS::Serverless::Api":
            found.update((resource.get("Properties") or {}).get("GatewayResponses") or {})
    return found


def _function_events(
    resources: dict[str, Any], event_type: str
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(logical id, function properties, event properties) of every function event of a type."""
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        for event in (props.get("Events") or {}).values():
            if event.get("Type") == event_type:
                yield logical_id, props, event.get("Properties") or {}


def routes_from_template(template_path: Path) -> list[Route]:
    resources: dict[str, Any] = load_template(template_path).get("Resources") or {}
    root = template_path.parent
    return [
        Route(
            function=logical_id,
            method=str(event_props["Method"]).upper(),
            path=event_props["Path"],
            code_uri=(root / props["CodeUri"]).resolve(),
            handler=props["Handler"],
            pattern=_compile(event_props["Path"]),
            authorizer=_authorizer_for(resources, event_props, root),
        )
        for logical_id, props, event_props in _function_events(resources, "Api")
    ]


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def scheduled_functions(template_path: Path) -> list[tuple[FunctionRef, float]]:
    """Functions with a ``Schedule`` event (``rate(N unit)``), with their period in seconds."""
    resources: dict[str, Any] = load_template(template_path).get("Resources") or {}
    found = []
    for logical_id, _props, event_props in _function_events(resources, "Schedule"):
        rate = _RATE.match(str(event_props.get("Schedule", "")))
        if rate:
            seconds = int(rate.group(1)) * _UNIT_SECONDS[rate.group(2).rstrip("s")]
            found.append((_function_ref(resources, logical_id, template_path.parent), float(seconds)))
    return found


def load_handler(route: Route | FunctionRef) -> Callable[[Any, Any], Any]:
    """Import the function's handler module from its CodeUri, as Lambda would."""
    handler: Callable[[Any, Any], Any] = getattr(load_module(route), route.handler.rpartition(".")[2])
    return handler


def load_module(route: Route | FunctionRef) -> ModuleType:
    """The function's handler module (``app``), imported once from its CodeUri."""
    module_name = route.handler.rpartition(".")[0]
    file_path = route.code_uri / (module_name.replace(".", "/") + ".py")
    unique = f"skms_function_{route.function if isinstance(route, Route) else route.logical_id}"
    module = sys.modules.get(unique)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique, file_path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {file_path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        spec.loader.exec_module(module)
    return module
