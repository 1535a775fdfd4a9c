"""Checks requests and responses against Alfresco's official REST definitions (Swagger 2.0).

The definitions live beside the checkout in `../shared/alfresco-openapi/`; they are never copied into the
project. A clone without that folder skips contract tests with `SKIP_REASON`.

URLs are matched by stripping the API prefix `/alfresco/api/{tenant}/public/{api}/versions/1` (any tenant:
the cloud puts the network id there) and matching the rest against the definition's path templates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SKIP_REASON = (
    "Alfresco's official definitions (../shared/alfresco-openapi/ beside the checkout) are not present; contract tests need them"
)

_API_PREFIX = re.compile(r"^/alfresco/api/(?P<tenant>[^/]+)/public/(?P<api>[a-z]+)/versions/1(?P<rest>/.*)?$")
_DISCOVERY = re.compile(r"^/alfresco/api(?P<rest>/discovery)$")
_API_FILES = {
    "alfresco": "alfresco-core.yaml",
    "authentication": "alfresco-auth.yaml",
    "search": "alfresco-search.yaml",
}


def spec_dir() -> Path | None:
    """The folder with the official definitions, or None when this checkout has none beside it."""
    candidate = (REPO_ROOT / ".." / "shared" / "alfresco-openapi").resolve()
    return candidate if (candidate / "alfresco-core.yaml").is_file() else None


@dataclass(frozen=True)
class Operation:
    """One operation of the definitions: the file it is in, its path template and method."""

    api: str
    template: str
    method: str
    spec: dict[str, Any] = field(repr=False, hash=False, compare=False)
    document: dict[str, Any] = field(repr=False, hash=False, compare=False)

    @property
    def operation_id(self) -> str:
        return str(self.spec.get("operationId", f"{self.method} {self.template}"))

    def parameters(self) -> list[dict[str, Any]]:
        resolved = []
        for parameter in self.spec.get("parameters", []):
            if "$ref" in parameter:
                name = parameter["$ref"].split("/")[-1]
                parameter = self.document["parameters"][name]
            resolved.append(parameter)
        return resolved


@cache
def _document(file_name: str) -> dict[str, Any]:
    directory = spec_dir()
    if directory is None:
        raise FileNotFoundError(SKIP_REASON)
    return yaml.safe_load((directory / file_name).read_text(encoding="utf-8"))


@cache
def _templates(file_name: str) -> list[tuple[re.Pattern[str], str]]:
    """Path templates as regexes, literal paths before templated ones (`/tickets/-me-` before `{id}`)."""
    templates = list(_document(file_name).get("paths", {}))
    templates.sort(key=lambda t: (t.count("{"), -len(t)))
    compiled = []
    for template in templates:
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        compiled.append((re.compile(f"^{pattern}$"), template))
    return compiled


def _locate(url: str) -> tuple[str, str] | None:
    """(definitions file, path below the base path) for an Alfresco API URL."""
    path = urlsplit(url).path
    if _DISCOVERY.match(path):
        return "alfresco-discovery.yaml", "/discovery"
    match = _API_PREFIX.match(path)
    if not match or match.group("api") not in _API_FILES:
        return None
    return _API_FILES[match.group("api")], match.group("rest") or "/"


def match_operation(method: str, url: str) -> Operation | None:
    """The operation of the official definitions that `method url` calls, or None."""
    located = _locate(url)
    if located is None:
        return None
    file_name, rest = located
    document = _document(file_name)
    for pattern, template in _templates(file_name):
        if pattern.match(rest):
            spec = document["paths"][template].get(method.lower())
            if spec is None:
                continue
            return Operation(file_name, template, method.upper(), spec, document)
    return None


def _schema_with_definitions(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "definitions": document.get("definitions", {})}


def _check_scalar(name: str, value: str, parameter: dict[str, Any]) -> list[str]:
    kind = parameter.get("type")
    if kind == "integer" and not re.fullmatch(r"-?\d+", value):
        return [f"query parameter {name}={value!r} is not an integer"]
    if kind == "boolean" and value not in ("true", "false"):
        return [f"query parameter {name}={value!r} is not a boolean"]
    enum = parameter.get("enum") or parameter.get("items", {}).get("enum")
    if enum and kind != "array" and value not in enum:
        return [f"query parameter {name}={value!r} is not one of {enum}"]
    return []


def validate_request(request: httpx.Request) -> list[str]:
    """Problems with a request the client made: unknown operation, unknown query parameter, bad body."""
    operation = match_operation(request.method, str(request.url))
    if operation is None:
        return [f"{request.method} {request.url.path} matches no operation of the official definitions"]
    problems: list[str] = []
    parameters = operation.parameters()
    query_parameters = {p["name"]: p for p in parameters if p.get("in") == "query"}
    for name, value in parse_qsl(
        request.url.query.decode() if isinstance(request.url.query, bytes) else request.url.query,
        keep_blank_values=True,
    ):
        if name == "alf_ticket":
            continue  # accepted on every call by Alfresco's web script framework
        if name not in query_parameters:
            problems.append(f"{operation.operation_id}: unknown query parameter {name!r}")
            continue
        problems.extend(_check_scalar(name, value, query_parameters[name]))
    body_parameters = [p for p in parameters if p.get("in") == "body"]
    form_parameters = [p for p in parameters if p.get("in") == "formData"]
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        if not body_parameters:
            problems.append(f"{operation.operation_id}: sends a JSON body, the operation takes none")
        else:
            try:
                body = json.loads(request.content or b"null")
            except (json.JSONDecodeError, httpx.RequestNotRead):
                return [*problems, f"{operation.operation_id}: body is not JSON"]
            schema = _schema_with_definitions(body_parameters[0].get("schema", {}), operation.document)
            for error in jsonschema.Draft4Validator(schema).iter_errors(body):
                problems.append(f"{operation.operation_id}: body {error.json_path}: {error.message}")
    elif content_type.startswith("multipart/form-data"):
        consumes = operation.spec.get("consumes", operation.document.get("consumes", []))
        if "multipart/form-data" not in consumes and not form_parameters:
            problems.append(f"{operation.operation_id}: sends multipart, the operation does not consume it")
    elif request.method in ("POST", "PUT") and body_parameters and body_parameters[0].get("required"):
        schema = body_parameters[0].get("schema", {})
        if schema.get("format") != "binary" and schema.get("type") != "string":
            problems.append(f"{operation.operation_id}: a required JSON body is missing")
    return problems


def asks_for_fields(request: httpx.Request) -> bool:
    """Whether a request trims its entities with `fields` (a query parameter, or a search body's `fields`)."""
    if request.url.params.get("fields"):
        return True
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(request.content or b"null")
        except (ValueError, httpx.RequestNotRead):
            return False
        return isinstance(body, dict) and bool(body.get("fields"))
    return False


def _without_required(value: Any) -> Any:
    """A schema with every `required` list dropped: what a `fields`-trimmed entity still has to satisfy."""
    if isinstance(value, dict):
        return {k: _without_required(v) for k, v in value.items() if k != "required" or not isinstance(v, list)}
    if isinstance(value, list):
        return [_without_required(v) for v in value]
    return value


@cache
def _definitions(file_name: str, trimmed: bool) -> dict[str, Any]:
    definitions = _document(file_name).get("definitions", {})
    return _without_required(definitions) if trimmed else definitions


def validate_response(method: str, url: str, status: int, json_body: Any, *, trimmed: bool = False) -> list[str]:
    """Problems with a response: a status the operation does not define, or a body off its schema.

    Error statuses the definitions list without a schema are checked against the `default` (Error) schema,
    which is what Alfresco sends for every error. `trimmed`: the request named `fields`, which keeps only those
    properties of each entity (the parameter's own definition says so), so the definitions' required properties
    are not required; types and shapes still are.
    """
    operation = match_operation(method, url)
    if operation is None:
        return [f"{method} {urlsplit(url).path} matches no operation of the official definitions"]
    responses = operation.spec.get("responses", {})
    response = responses.get(str(status))
    if response is None and "default" not in responses:
        return [f"{operation.operation_id}: status {status} is not defined"]
    schema = (response or {}).get("schema")
    if schema is None and status >= 400:
        schema = responses.get("default", {}).get("schema")
    if schema is not None and schema.get("type") == "file":
        return []  # binary content: nothing to check against a JSON schema
    if schema is None:
        if json_body not in (None, b"", ""):
            return [] if status < 300 else [f"{operation.operation_id}: status {status} defines no body"]
        return []
    if trimmed and status < 300:
        schema = {**_without_required(schema), "definitions": _definitions(operation.api, True)}
    else:
        schema = _schema_with_definitions(schema, operation.document)
    validator = jsonschema.Draft4Validator(schema)
    return [
        f"{operation.operation_id} {status}: {error.json_path}: {error.message}" for error in validator.iter_errors(json_body)
    ]
