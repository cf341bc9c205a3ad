"""The ``ClusterSpec`` custom resource: its CRD, drawn from the spec models, and the way a
resource becomes the :class:`~reconciler.spec.models.ClusterSpec` the engine plans.

Pure: no Kubernetes client here. A resource's ``spec`` holds what a spec file's ``kafka`` and
``redis`` sections hold, with the overlay already chosen (no ``environments``), plus how the
operator treats it (``reconcile``, ``intervalSeconds``, ``allowDelete``, ``allowDataLoss``,
``approve``, ``environment``), and may hold ``policies`` like a spec file.
Secrets are references to Kubernetes Secrets (``{secretKeyRef: {name, key}}``) in the
resource's own namespace, never inline and never the operator's environment or files.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from typing import Any

from msgspec import Struct

from reconciler.errors import SpecError
from reconciler.spec.issues import SpecIssue, format_path

GROUP = "llm-analytics.io"
VERSION = "v1"
KIND = "ClusterSpec"
PLURAL = "clusterspecs"
SHORT_NAMES = ["lacs"]
DEFAULT_INTERVAL_SECONDS = 300
MIN_INTERVAL_SECONDS = 10

_SECRET_KEY_REF = "secretKeyRef"
_SPEC_SECRET_FORMS = ("fromEnv", "fromFile")
# JSON Schema keywords a Kubernetes structural schema accepts, as we use them.
_KEPT_KEYWORDS = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
    "additionalProperties",
}
_SCALAR_TYPES = {"string", "integer", "number", "boolean"}


class ReconcileMode(StrEnum):
    """What the operator does with a difference: record it, or apply it."""

    PLAN_ONLY = "plan-only"
    APPLY = "apply"


class SecretKeyRef(Struct, frozen=True):
    """A key of a Kubernetes Secret in the resource's namespace."""

    name: str
    key: str


class ResourceSettings(Struct, frozen=True):
    """How the operator treats one ClusterSpec (its non-spec-file fields)."""

    mode: ReconcileMode = ReconcileMode.PLAN_ONLY
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    allow_delete: bool = False
    allow_data_loss: bool = False
    approvals: frozenset[str] = frozenset()
    environment: str | None = None


# --------------------------------------------------------------------------- the CRD


def crd_manifest() -> dict[str, Any]:
    """The CustomResourceDefinition of ``ClusterSpec``: a structural schema generated from
    the same pydantic models as ``schemas/``, ``$ref``s inlined, a status subresource and
    printer columns."""
    from pydantic import TypeAdapter

    from reconciler.spec.models import KafkaSpec, RedisSpec
    from reconciler.spec.policies import PolicyRule
    from reconciler.spec.schema import document_fields

    document_fields()  # the fields' descriptions, as in schemas/

    spec_properties: dict[str, Any] = {
        "reconcile": {
            "type": "string",
            "enum": [m.value for m in ReconcileMode],
            "description": "plan-only (default): record the plan in status and Events; "
            "apply: carry it out with the apply lock.",
        },
        "intervalSeconds": {
            "type": "integer",
            "minimum": MIN_INTERVAL_SECONDS,
            "description": f"Seconds between drift checks (default {DEFAULT_INTERVAL_SECONDS}).",
        },
        "allowDelete": {
            "type": "boolean",
            "description": "Let reconcile: apply carry out deletions the ownership policy "
            "allows (like --allow-delete). Off by default.",
        },
        "allowDataLoss": {
            "type": "boolean",
            "description": "Let reconcile: apply carry out data-loss changes "
            "(like --allow-data-loss). Off by default.",
        },
        "environment": {
            "type": "string",
            "description": "The environment name policy rules with `environments` match "
            "(what --env is for a spec file).",
        },
        "approve": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Policy rules whose violations this resource's changes may pass "
            "(like --approve RULE).",
        },
        "policies": structural_schema(
            TypeAdapter(list[PolicyRule]).json_schema(by_alias=True, mode="validation")
        ),
        "kafka": structural_schema(KafkaSpec.model_json_schema(by_alias=True)),
        "redis": structural_schema(RedisSpec.model_json_schema(by_alias=True)),
    }
    schema = {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": spec_properties},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "plural": PLURAL,
                "singular": KIND.lower(),
                "listKind": f"{KIND}List",
                "shortNames": SHORT_NAMES,
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": _printer_columns(),
                }
            ],
        },
    }


def _printer_columns() -> list[dict[str, Any]]:
    def condition(name: str) -> str:
        return f'.status.conditions[?(@.type=="{name}")].status'

    return [
        {"name": "Mode", "type": "string", "jsonPath": ".spec.reconcile"},
        {"name": "Ready", "type": "string", "jsonPath": condition("Ready")},
        {"name": "Drifted", "type": "string", "jsonPath": condition("Drifted")},
        {"name": "Changes", "type": "integer", "jsonPath": ".status.summary.changes"},
        {"name": "Checked", "type": "date", "jsonPath": ".status.lastCheckTime"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def structural_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A pydantic JSON Schema (2020-12) as a Kubernetes structural schema: ``$ref``s inlined,
    optional fields as ``nullable``, scalar unions as int-or-string or preserved values,
    exclusive bounds in OpenAPI 3.0 form, secret references as ``secretKeyRef``."""
    definitions = schema.get("$defs", {})
    return _convert(schema, definitions)


def _convert(node: Mapping[str, Any], definitions: Mapping[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        if name == "SecretRef":
            return _secret_key_ref_schema(node.get("description"))
        merged = {**definitions[name], **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, definitions)
    variants = node.get("anyOf") or node.get("oneOf")
    if variants:
        return _convert_union(node, variants, definitions)
    converted: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            converted[key] = {name: _convert(sub, definitions) for name, sub in value.items()}
        elif key == "items":
            converted[key] = _convert(value, definitions)
        elif key == "additionalProperties":
            if isinstance(value, Mapping):
                converted[key] = _convert(value, definitions)
        elif key == "const":
            converted["enum"] = [value]
        elif key == "exclusiveMinimum":
            converted.update({"minimum": value, "exclusiveMinimum": True})
        elif key == "exclusiveMaximum":
            converted.update({"maximum": value, "exclusiveMaximum": True})
        elif key in _KEPT_KEYWORDS:
            converted[key] = copy.deepcopy(value)
    if "type" not in converted and "properties" in converted:
        converted["type"] = "object"
    if "type" not in converted:
        converted["x-kubernetes-preserve-unknown-fields"] = True
    return converted


def _convert_union(
    node: Mapping[str, Any], variants: list[Any], definitions: Mapping[str, Any]
) -> dict[str, Any]:
    """Kubernetes allows no type inside ``anyOf``: an optional value becomes ``nullable``; a
    union of scalars int-or-string or any value; any other union an object or list whose
    content the operator validates (with the located messages of the spec loader)."""
    present = [v for v in variants if v.get("type") != "null"]
    extra = {k: v for k, v in node.items() if k in ("description",)}
    if len(present) == 1:
        inner = _convert({**present[0], **extra}, definitions)
        if len(present) < len(variants):
            inner["nullable"] = True
        return inner
    resolved = [_resolve(v, definitions) for v in present]
    types = {v.get("type") for v in resolved}
    nullable = {"nullable": True} if len(present) < len(variants) else {}
    if types <= {"integer", "string"} and types == {"integer", "string"}:
        return {**extra, **nullable, "x-kubernetes-int-or-string": True}
    if types == {"object"}:
        return {**extra, **nullable, "type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {**extra, **nullable, "x-kubernetes-preserve-unknown-fields": True}


def _resolve(node: Mapping[str, Any], definitions: Mapping[str, Any]) -> Mapping[str, Any]:
    if "$ref" in node:
        return definitions[str(node["$ref"]).rsplit("/", 1)[-1]]
    return node


def _secret_key_ref_schema(description: str | None) -> dict[str, Any]:
    ref = {
        "type": "object",
        "required": ["name", "key"],
        "properties": {
            "name": {"type": "string", "description": "The Secret, in this namespace."},
            "key": {"type": "string", "description": "The key of the Secret's data."},
        },
    }
    return {
        "type": "object",
        "nullable": True,
        "description": description
        or "A secret: a key of a Kubernetes Secret in this namespace, never inline.",
        "required": [_SECRET_KEY_REF],
        "properties": {_SECRET_KEY_REF: ref},
    }


# --------------------------------------------------------------------------- resource → spec


def resource_settings(spec: Mapping[str, Any]) -> ResourceSettings:
    """The operator's own fields of a resource's ``spec`` (schema-checked by the API
    server; checked again here for resources created before the CRD had them)."""
    mode_text = spec.get("reconcile", ReconcileMode.PLAN_ONLY.value)
    try:
        mode = ReconcileMode(mode_text)
    except ValueError:
        raise _resource_error("reconcile", f"{mode_text!r} is not plan-only or apply") from None
    interval = spec.get("intervalSeconds", DEFAULT_INTERVAL_SECONDS)
    if not isinstance(interval, int | float) or interval < MIN_INTERVAL_SECONDS:
        raise _resource_error(
            "intervalSeconds", f"expected a number of seconds ≥ {MIN_INTERVAL_SECONDS}"
        )
    return ResourceSettings(
        mode=mode,
        interval_seconds=float(interval),
        allow_delete=spec.get("allowDelete") is True,
        allow_data_loss=spec.get("allowDataLoss") is True,
        approvals=frozenset(str(name) for name in spec.get("approve") or ()),
        environment=spec.get("environment"),
    )


def secret_refs(
    section: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], SecretKeyRef]]:
    """Every ``secretKeyRef`` of a resource's spec sections, with its path."""
    if isinstance(section, Mapping):
        if _SECRET_KEY_REF in section:
            yield path, _parse_ref(section, path)
            return
        forms = [form for form in _SPEC_SECRET_FORMS if form in section]
        if forms:
            raise _resource_error(
                path,
                f"{forms[0]} is not available in a ClusterSpec resource: give the secret as "
                "{secretKeyRef: {name: SECRET, key: KEY}}",
            )
        for key, value in section.items():
            yield from secret_refs(value, (*path, str(key)))
    elif isinstance(section, list):
        for index, item in enumerate(section):
            yield from secret_refs(item, (*path, index))


def _parse_ref(section: Mapping[str, Any], path: tuple[str | int, ...]) -> SecretKeyRef:
    ref = section[_SECRET_KEY_REF]
    if (
        len(section) != 1
        or not isinstance(ref, Mapping)
        or not isinstance(ref.get("name"), str)
        or not isinstance(ref.get("key"), str)
    ):
        raise _resource_error(path, "expected {secretKeyRef: {name: SECRET, key: KEY}}")
    return SecretKeyRef(ref["name"], ref["key"])


def spec_document(
    resource: Mapping[str, Any], secret_file: Callable[[SecretKeyRef], str]
) -> dict[str, Any]:
    """The spec-file document of a resource: its ``kafka``/``redis`` sections, each
    ``secretKeyRef`` replaced by ``{fromFile: secret_file(ref)}`` (a private file the caller
    wrote), named ``NAMESPACE/NAME`` like its plans and locks."""
    metadata = resource.get("metadata", {})
    spec = copy.deepcopy(dict(resource.get("spec") or {}))
    sections = {key: spec[key] for key in ("kafka", "redis") if spec.get(key) is not None}
    if spec.get("policies"):
        sections["policies"] = spec["policies"]
    if not ({"kafka", "redis"} & set(sections)):
        raise _resource_error((), "the spec has neither kafka nor redis: nothing to reconcile")
    for path, ref in list(secret_refs(sections)):
        _replace_at(sections, path, {"fromFile": secret_file(ref)})
    return {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {
            "name": resource_name(resource),
            "labels": dict(metadata.get("labels") or {}),
        },
        **sections,
    }


def resource_name(resource: Mapping[str, Any]) -> str:
    """``NAMESPACE/NAME`` of a resource."""
    metadata = resource.get("metadata", {})
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"


def _replace_at(root: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = root
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _resource_error(path: tuple[str | int, ...] | str, message: str) -> SpecError:
    where = format_path(("spec", *path)) if isinstance(path, tuple) else f"spec.{path}"
    issue = SpecIssue("ClusterSpec", 0, 0, where.rstrip("."), message)
    return SpecError(str(issue), [issue])
