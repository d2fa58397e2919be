"""The handler renders an answer in one pass, to the very text the two-pass render wrote.

An API answer's body is ``_json_text(result)`` (pydantic's JSON serialiser) where it was
``json.dumps(result.model_dump(mode="json", exclude_none=True), ensure_ascii=False,
separators=(",", ":"))``: these tests prove the two write the same bytes for every response model,
with every kind of field value (non-ASCII text, escapes, large integers, absent optional fields).
"""

from __future__ import annotations

import enum
import importlib
import inspect
import json
import pkgutil
import types
import typing
from typing import Any, ClassVar, Literal

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr

import skms.models
from skms.api.handler import _api_response, _attribute, _class_may_have, _Endpoint, _json_text, endpoint_of
from skms.models.base import WireModel
from skms.sam_template import load_handler
from tests.conftest import TEMPLATE
from tests.support.template import template_functions

# Text that exercises JSON's escapes and UTF-8: quotes, backslash, every control character, DEL,
# the line separators JavaScript cares about, a slash, non-ASCII letters, CJK, an astral emoji.
AWKWARD_TEXT = '"\\/' + "".join(chr(c) for c in range(0x20)) + "\x7f\u2028\u2029 é 中文 \U0001f600 </script>"
TEXTS = {"plain": "plain-text_1", "awkward": AWKWARD_TEXT}


def _response_models() -> list[type[BaseModel]]:
    """Every model of skms.models that is not a request body, and every logic result class."""
    found: dict[str, type[BaseModel]] = {}
    for info in pkgutil.iter_modules(skms.models.__path__):
        module = importlib.import_module(f"skms.models.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, BaseModel)
                and not issubclass(cls, WireModel)
                and cls.__module__ == module.__name__
            ):
                found[cls.__qualname__ + "@" + cls.__module__] = cls
    for handler in (load_handler(ref) for ref in template_functions(TEMPLATE).values()):
        spec = endpoint_of(handler)
        if spec is None:
            continue
        result = typing.get_type_hints(spec.logic).get("return")
        for cls in typing.get_args(result) or (result,):
            if isinstance(cls, type) and issubclass(cls, BaseModel):
                found[cls.__qualname__ + "@" + cls.__module__] = cls
    return [found[name] for name in sorted(found)]


RESPONSE_MODELS = _response_models()


def _sample(annotation: Any, text: str, *, absent: bool) -> Any:
    """A value of ``annotation``; optional values absent (None) when ``absent``."""
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        arguments = [argument for argument in typing.get_args(annotation) if argument is not type(None)]
        if absent and len(arguments) < len(typing.get_args(annotation)):
            return None
        return _sample(arguments[0], text, absent=absent)
    if origin is Literal:
        return typing.get_args(annotation)[-1]
    if origin is list:
        (item,) = typing.get_args(annotation)
        return [_sample(item, text, absent=absent), _sample(item, text[::-1], absent=not absent)]
    if origin is dict:
        _, value = typing.get_args(annotation)
        return {text: _sample(value, text, absent=absent), "k": _sample(value, "v", absent=absent)}
    if annotation is str:
        return text
    if annotation is SecretStr:
        return SecretStr(text)
    if annotation is bool:
        return not absent
    if annotation is int:
        return -(2**63) if absent else 2**70 + 3
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return list(annotation)[-1]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _instance(annotation, text, absent=absent)
    raise AssertionError(f"no sample for {annotation!r}: extend _sample (and check the two renders agree)")


def _instance(model: type[BaseModel], text: str, *, absent: bool) -> BaseModel:
    values = {
        name: _sample(field.annotation, text, absent=absent) for name, field in model.model_fields.items()
    }
    return model.model_construct(**values)


def _two_pass(result: BaseModel) -> str:
    """The render before: a dict, then the json module."""
    return json.dumps(
        result.model_dump(mode="json", exclude_none=True), ensure_ascii=False, separators=(",", ":")
    )


def test_the_response_models_include_every_logic_result() -> None:
    # Guards the parametrisation below against an empty or partial list
    names = {model.__name__ for model in RESPONSE_MODELS}
    assert {"CreateDatakeyResponseBody", "CreateKeyResponseBody", "ListKeysResponseBody"} <= names
    assert len(RESPONSE_MODELS) > 40


@pytest.mark.parametrize("absent", [False, True], ids=["all fields", "optional fields absent"])
@pytest.mark.parametrize("text", list(TEXTS.values()), ids=list(TEXTS))
@pytest.mark.parametrize("model", RESPONSE_MODELS, ids=lambda model: model.__name__)
def test_one_pass_writes_what_two_passes_wrote(model: type[BaseModel], text: str, absent: bool) -> None:
    # Given a result of the model with every field set (or its optional ones absent)
    result = _instance(model, text, absent=absent)
    # When it is rendered in one pass, by pydantic's serialiser itself (not the fallback)
    one_pass = type(result).__pydantic_serializer__.to_json(result, exclude_none=True).decode()
    # Then the text is the two-pass render's, byte for byte
    assert one_pass == _two_pass(result)
    assert _json_text(result) == one_pass


def test_a_text_pydantic_cannot_write_is_written_by_the_json_module() -> None:
    # Given a result holding a lone surrogate (no request can bring one: bodies holding one are refused)
    class Answer(BaseModel):
        name: str

    result = Answer.model_construct(name="a\ud800b")
    # Then the render falls back to the two-pass text rather than failing
    assert _json_text(result) == _two_pass(result) == '{"name":"a\ud800b"}'


def test_an_api_response_takes_a_body_as_an_object_or_as_its_text() -> None:
    as_object = _api_response(200, {"key_id": "é"}, "rid", {"X-Subject-Token": "t"})
    as_text = _api_response(200, '{"key_id":"é"}', "rid", {"X-Subject-Token": "t"})
    assert as_object == as_text
    assert as_text["headers"] == {
        "X-Request-Id": "rid",
        "X-Subject-Token": "t",
        "Content-Type": "application/json;charset=UTF-8",
    }
    assert as_text["body"] == '{"key_id":"é"}'


@pytest.mark.parametrize("body", [None, {"a": 1}, '{"a":1}'])
def test_a_204_has_no_body_and_no_content_type(body: Any) -> None:
    response = _api_response(204, body, "rid")
    assert (response["body"], response["headers"]) == ("", {"X-Request-Id": "rid"})


class _Plain(BaseModel):
    key_id: str = "k"

    @property
    def computed(self) -> str:
        return "c"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _WithHeaders(BaseModel):
    token: str = "t"
    HEADER: ClassVar[str] = "X-Subject-Token"

    def response_headers(self) -> dict[str, str]:
        return {self.HEADER: self.token}


class _Object:
    def __init__(self) -> None:
        self.key_id = "o"


def test_attributes_are_read_where_the_class_may_have_them() -> None:
    # A field, a property, an extra field where the model allows extras, any attribute of a plain object
    assert (_attribute(_Plain(), "key_id"), _attribute(_Plain(), "computed")) == ("k", "c")
    assert _attribute(_Open(key_id="x"), "key_id") == "x"
    assert _attribute(_Open(), "key_id") is None
    assert _attribute(_Object(), "key_id") == "o"
    # and None where it cannot: an unknown name of a closed model, or no model at all
    assert _attribute(_Plain(), "key_info") is None
    assert _attribute(None, "key_id") is None
    assert (_class_may_have(_Plain, "key_info"), _class_may_have(_Open, "anything")) == (False, True)


def _endpoint(success_status: int = 200) -> _Endpoint:
    return _Endpoint(
        "test-op", WireModel, lambda body, caller, services: None, success_status, False, False, False
    )


class _Created(BaseModel):
    key_info: _Plain


def test_a_result_renders_to_its_body_and_headers() -> None:
    # Given results with response headers, a created key, nothing
    log: dict[str, Any] = {}
    assert _endpoint()._render(_WithHeaders(token="abc"), log, True) == (
        '{"token":"abc"}',
        {"X-Subject-Token": "abc"},
    )
    assert _endpoint()._render(_WithHeaders(token="abc"), log, False) == (
        {"token": "abc"},
        {"X-Subject-Token": "abc"},
    )
    assert log == {}
    assert _endpoint()._render(_Created(key_info=_Plain(key_id="new")), log, True) == (
        '{"key_info":{"key_id":"new"}}',
        {},
    )
    assert log == {"key_id": "new"}  # the key it created is logged
    assert _endpoint()._render(None, log, True) == (None, {})
    # and a 204 through the API has no body, where a direct invocation still gets the object
    assert _endpoint(204)._render(_Plain(), log, True) == (None, {})
    assert _endpoint(204)._render(_Plain(), log, False) == ({"key_id": "k"}, {})
