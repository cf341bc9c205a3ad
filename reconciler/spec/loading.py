"""Load ``cluster-spec.yaml``: read it safely, overlay an environment, interpolate, validate, check.

Every problem is reported with its file, line and column; all of them at once, sorted by
position, in one :class:`~reconciler.errors.SpecError` whose message is the located list.

Steps, in order:

1. size limit (before reading) and UTF-8 decoding;
2. YAML with positions (:mod:`reconciler.spec.yaml_tree`): syntax, duplicate keys, alias bombs;
3. the ``--env`` overlay deep-merged over the base (:mod:`reconciler.spec.overlays`);
4. ``${VAR}`` interpolation of string values (:mod:`reconciler.spec.interpolation`);
5. model validation (:mod:`reconciler.spec.validation`);
6. semantic checks (:mod:`reconciler.spec.checks`).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msgspec.structs import replace
from pydantic import TypeAdapter, ValidationError

from reconciler.errors import SpecError
from reconciler.spec.checks import check_kafka, check_redis, check_spec
from reconciler.spec.interpolation import column_in_scalar, interpolate
from reconciler.spec.issues import SpecIssue, SpecPath, format_path, sort_issues
from reconciler.spec.locating import Locator
from reconciler.spec.models import (
    AclRule,
    ClusterSpec,
    KafkaSpec,
    RedisSpec,
    TopicSettings,
    TopicSpec,
)
from reconciler.spec.overlays import FIXED_TOP_LEVEL_KEYS, merge
from reconciler.spec.policies import PolicyRule
from reconciler.spec.validation import describe_value, validate_model
from reconciler.spec.yaml_tree import Mark, PosNode, YamlDocument, YamlReadError, read_yaml

__all__ = [
    "MAX_SPEC_BYTES",
    "LoadedSpec",
    "SpecIssue",
    "SpecValidationError",
    "load_policy_file",
    "load_spec",
    "load_spec_text",
]

MAX_SPEC_BYTES = 16 * 1024 * 1024
"""A 50,000-topic spec is about 12 MB (a name, partitions, a description and three configs
per topic); anything much larger is a mistake (or an attack)."""

_UTF8_BOM = b"\xef\xbb\xbf"


# A dataclass, unlike the Struct records: ``positions`` stays out of equality and repr.
@dataclass(frozen=True)
class LoadedSpec:
    """A valid spec, where it came from, and its warnings.

    ``sha256`` covers the file's bytes and the environment name (not the values of environment
    variables): it identifies the spec a plan was made from.
    """

    spec: ClusterSpec
    path: Path
    env: str | None
    sha256: str
    warnings: tuple[SpecIssue, ...] = ()
    # Found on first use (see :class:`Locator`): most runs never need a position.
    positions: PosNode | Callable[[], PosNode] | None = field(
        default=None, compare=False, repr=False
    )

    def where(self, path: SpecPath) -> str:
        """``file:line:column`` of a path in the document (its deepest existing part), for
        problems found after loading (e.g. a key the brokers report as read-only)."""
        mark = Locator(str(self.path), self.positions).mark(path, at_key=True)
        return f"{self.path}:{mark.line}:{mark.column}"


class SpecValidationError(SpecError):
    """A :class:`SpecError` that also carries the warnings found on the way."""

    def __init__(
        self, message: str, issues: list[SpecIssue], warnings: tuple[SpecIssue, ...] = ()
    ) -> None:
        super().__init__(message, issues=issues)
        self.warnings = warnings


def _fail(
    filename: str, issues: list[SpecIssue], warnings: tuple[SpecIssue, ...] = ()
) -> SpecValidationError:
    errors = sort_issues(issues)
    count = f"{len(errors)} error" + ("s" if len(errors) != 1 else "")
    message = f"{filename} is not a valid spec ({count}):\n" + "\n".join(str(i) for i in errors)
    return SpecValidationError(message, errors, warnings)


def _digest(data: bytes, env: str | None) -> str:
    digest = hashlib.sha256(data)
    digest.update(b"\0env=" + (env or "").encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _size_issue(filename: str, size: int) -> SpecIssue:
    return SpecIssue(
        filename,
        1,
        1,
        "",
        f"the file is {size / 1024 / 1024:.1f} MB; a spec may be at most "
        f"{MAX_SPEC_BYTES // 1024 // 1024} MB",
    )


def load_spec(
    path: str | Path, env: str | None = None, environ: Mapping[str, str] | None = None
) -> LoadedSpec:
    """Load and check a spec file; raises :class:`SpecError` listing every located problem."""
    spec_path = Path(path)
    filename = str(path)
    try:
        size = spec_path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise _fail(filename, [_size_issue(filename, size)])
        with spec_path.open("rb") as stream:
            raw = stream.read(MAX_SPEC_BYTES + 1)
    except OSError as problem:
        reason = problem.strerror or str(problem)
        raise _fail(
            filename, [SpecIssue(filename, 0, 0, "", f"cannot read the file: {reason}")]
        ) from None
    if len(raw) > MAX_SPEC_BYTES:  # grew after stat
        raise _fail(filename, [_size_issue(filename, len(raw))])
    body = raw[len(_UTF8_BOM) :] if raw.startswith(_UTF8_BOM) else raw
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise _fail(filename, [_decode_issue(filename, body, problem)]) from None
    return _load(text, filename, spec_path, env, environ, _digest(raw, env))


def load_spec_text(
    text: str,
    filename: str = "<string>",
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedSpec:
    """Like :func:`load_spec`, from a string (``filename`` is used in messages)."""
    if len(text) > MAX_SPEC_BYTES:
        raise _fail(filename, [_size_issue(filename, len(text))])
    raw = text.encode("utf-8", "surrogatepass")
    return _load(
        text.removeprefix("\ufeff"), filename, Path(filename), env, environ, _digest(raw, env)
    )


def _decode_issue(filename: str, raw: bytes, problem: UnicodeDecodeError) -> SpecIssue:
    offset = problem.start
    line_start = raw.rfind(b"\n", 0, offset) + 1
    line = raw.count(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", "replace")) + 1
    return SpecIssue(
        filename,
        line,
        column,
        "",
        f"the file is not UTF-8 text: byte {raw[offset]:#04x} cannot be decoded "
        "(is it a binary file?)",
    )


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a spec is read: its objects all live on, and a
    10,000-topic spec (about a million of them) otherwise makes the collector walk them
    again and again (measured: a third to a half of the loading time). Reference counting
    still frees everything that is dropped."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load(
    text: str,
    filename: str,
    path: Path,
    env: str | None,
    environ: Mapping[str, str] | None,
    sha256: str,
) -> LoadedSpec:
    with _collector_paused():
        return _load_document(text, filename, path, env, environ, sha256)


def _load_document(
    text: str,
    filename: str,
    path: Path,
    env: str | None,
    environ: Mapping[str, str] | None,
    sha256: str,
) -> LoadedSpec:
    try:
        document = read_yaml(text, filename)
    except YamlReadError as problem:
        raise _fail(filename, problem.issues) from None
    issues = list(document.issues)
    data = document.data
    locator = Locator(filename, document.lazy_positions)
    if data is None:
        issues.append(
            SpecIssue(
                filename,
                1,
                1,
                "",
                "the file is empty; expected a mapping with apiVersion, kind, "
                "metadata and kafka and/or redis",
            )
        )
        raise _fail(filename, issues)
    if not isinstance(data, dict):
        issues.append(
            locator.issue(
                (),
                "the top level must be a mapping (apiVersion, kind, "
                f"metadata, kafka, redis, environments), got {describe_value(data)}",
            )
        )
        raise _fail(filename, issues)

    environ = os.environ if environ is None else environ
    positions: PosNode | Callable[[], PosNode] = document.lazy_positions
    if env is not None:
        data, positions, overlay_issues = _apply_environment(data, document.positions, env, locator)
        issues += overlay_issues
        locator = Locator(filename, positions)
        spec, found = _analyse(data, locator, environ)
        issues += found
    else:
        spec, found = _analyse(data, locator, environ)
        issues += found
        issues += _check_unselected_overlays(data, document, locator, environ, found)

    errors = [i for i in issues if i.level == "error"]
    warnings = tuple(sort_issues([i for i in issues if i.level == "warning"]))
    if errors or spec is None:
        raise _fail(filename, errors, warnings)
    return LoadedSpec(
        spec=spec, path=path, env=env, sha256=sha256, warnings=warnings, positions=positions
    )


def _analyse(
    data: dict[str, Any],
    locator: Locator,
    environ: Mapping[str, str],
    *,
    lenient_references: bool = False,
) -> tuple[ClusterSpec | None, list[SpecIssue]]:
    """Interpolate, validate and check one (possibly overlaid) document.

    With ``lenient_references``, references that cannot be resolved are not reported, nor is
    anything else wrong with the values that hold them.
    """
    issues: list[SpecIssue] = []
    interpolated = interpolate(data, environ)
    reference_issues: list[SpecIssue] = []
    for reference in interpolated.problems:
        node, found = locator.node(reference.path)
        mark = (
            Mark(node.mark.line, column_in_scalar(node, reference.offset))
            if node is not None and found
            else locator.mark(reference.path)
        )
        reference_issues.append(locator.issue(reference.path, reference.message, mark=mark))
    if not lenient_references:
        issues += reference_issues
    data = interpolated.data

    spec, model_issues = validate_model(
        ClusterSpec, data, locator, substituted=interpolated.substituted
    )
    issues += model_issues
    if spec is not None:
        issues += check_spec(spec, locator)
    else:
        # Warnings about a partly built model could be artefacts of what was left out.
        issues += [i for i in _check_valid_sections(data, locator) if i.level == "error"]

    # A value whose reference failed is reported once, not again as a bad value.
    unresolved = {format_path(reference.path) for reference in interpolated.problems}
    return spec, [i for i in issues if i.path not in unresolved or i in reference_issues]


def _check_unselected_overlays(
    data: dict[str, Any],
    document: YamlDocument,
    locator: Locator,
    environ: Mapping[str, str],
    base_issues: list[SpecIssue],
) -> list[SpecIssue]:
    """Errors that each environment overlay would bring, so a broken overlay fails CI early.

    Only errors the base does not already have are reported; unset variables are not errors
    here (they are when the environment is selected).
    """
    environments = data.get("environments")
    if not isinstance(environments, dict):
        return []
    issues = _check_overlay_shapes(environments, locator)
    seen = {(i.line, i.column, i.path) for i in base_issues}
    for name, overlay in environments.items():
        if not isinstance(overlay, dict) or any(key in FIXED_TOP_LEVEL_KEYS for key in overlay):
            continue
        merged, merged_pos, _ = _apply_environment(data, document.positions, name, locator)
        _, found = _analyse(
            merged, Locator(locator.filename, merged_pos), environ, lenient_references=True
        )
        for issue in found:
            if issue.level == "error" and (issue.line, issue.column, issue.path) not in seen:
                seen.add((issue.line, issue.column, issue.path))
                issues.append(replace(issue, message=f"with --env {name}: {issue.message}"))
    return issues


def _check_valid_sections(data: dict[str, Any], locator: Locator) -> list[SpecIssue]:
    """Semantic checks of whatever is valid, when the whole document is not.

    Invalid keys, topics and ACL rules are left out (their errors are already reported), so one
    mistake does not hide the problems of the rest of the file.
    """
    issues: list[SpecIssue] = []
    kafka_data = data.get("kafka")
    if isinstance(kafka_data, dict):
        issues += _check_kafka_salvage(kafka_data, locator)
    redis_data = data.get("redis")
    if isinstance(redis_data, dict):
        redis, dropped = _salvage(RedisSpec, redis_data, {"connection": _STAND_IN_REDIS})
        if redis is not None:
            issues += check_redis(redis, locator, skip_connection="connection" in dropped)
    return issues


_STAND_IN_KAFKA: dict[str, Any] = {"bootstrapServers": "stand-in:9092"}
_STAND_IN_REDIS: dict[str, Any] = {"addresses": []}
_MAX_SALVAGE_ROUNDS = 4


def _salvage(
    model: Any, value: Any, stand_ins: dict[str, Any] | None = None
) -> tuple[Any, set[str]]:
    """Validate ``value`` as ``model``, leaving out the keys that fail (a stand-in if required).

    Returns the validated object (None if nothing valid remains) and the keys left out.
    """
    adapter = _adapter(model)
    stand_ins = stand_ins or {}
    dropped: set[str] = set()
    current = value
    for _ in range(_MAX_SALVAGE_ROUNDS):
        try:
            return adapter.validate_python(current), dropped
        except ValidationError as problem:
            if not isinstance(current, dict):
                return None, dropped
            bad = {_first_key(error["loc"], current) for error in problem.errors()}
            bad.discard(None)
            if not bad:
                return None, dropped
            current = dict(current)
            for key in bad:
                assert isinstance(key, str)
                dropped.add(key)
                if key in stand_ins:
                    current[key] = stand_ins[key]
                else:
                    current.pop(key, None)
    return None, dropped


_ADAPTERS: dict[int, TypeAdapter[Any]] = {}


def _adapter(model: Any) -> TypeAdapter[Any]:
    # Building an adapter costs about a millisecond: once per type, not once per list item.
    adapter = _ADAPTERS.get(id(model))
    if adapter is None:
        adapter = _ADAPTERS[id(model)] = TypeAdapter(model)
    return adapter


def _first_key(loc: tuple[Any, ...], mapping: dict[str, Any]) -> str | None:
    # Skip union tags (e.g. 'producer'): the first loc part that is a key of the mapping.
    return next((part for part in loc if isinstance(part, str) and part in mapping), None)


def _valid_items(model: Any, items: Any) -> tuple[list[Any], list[int]]:
    if not isinstance(items, list):
        return [], []
    kept, positions = [], []
    for index, item in enumerate(items):
        valid, _ = _salvage(model, item)
        if valid is not None:
            kept.append(valid)
            positions.append(index)
    return kept, positions


def _check_kafka_salvage(kafka_data: dict[str, Any], locator: Locator) -> list[SpecIssue]:
    lists = {"topics", "acls", "profiles"}
    rest = {key: value for key, value in kafka_data.items() if key not in lists}
    kafka, dropped = _salvage(KafkaSpec, rest, {"connection": _STAND_IN_KAFKA})
    if kafka is None:
        return []
    topics, topic_positions = _valid_items(TopicSpec, kafka_data.get("topics"))
    acls, acl_positions = _valid_items(AclRule, kafka_data.get("acls"))
    profiles = kafka_data.get("profiles")
    valid_profiles = {}
    if isinstance(profiles, dict):
        for name, value in profiles.items():
            profile, _ = _salvage(TopicSettings, value)
            if profile is not None:
                valid_profiles[name] = profile
    kafka = kafka.model_copy(update={"topics": topics, "acls": acls, "profiles": valid_profiles})
    return check_kafka(
        kafka,
        locator,
        topic_positions=topic_positions,
        acl_positions=acl_positions,
        skip_connection="connection" in dropped,
    )


def _check_overlay_shapes(environments: dict[str, Any], locator: Locator) -> list[SpecIssue]:
    issues = []
    for name, overlay in environments.items():
        path: SpecPath = ("environments", name)
        if not isinstance(overlay, dict):
            continue  # the model reports it
        for key in overlay:
            if key in FIXED_TOP_LEVEL_KEYS:
                issues.append(
                    locator.issue((*path, key), f"an overlay cannot change '{key}'", at_key=True)
                )
    return issues


def _apply_environment(
    data: dict[str, Any], positions: PosNode, env: str, locator: Locator
) -> tuple[dict[str, Any], PosNode, list[SpecIssue]]:
    environments = data.get("environments")
    if not isinstance(environments, dict) or env not in environments:
        known = sorted(environments) if isinstance(environments, dict) else []
        listing = f"known: {', '.join(known)}" if known else "the file defines no environments"
        where = ("environments",) if isinstance(environments, dict) else ()
        issue = locator.issue(where, f"unknown environment '{env}' ({listing})", at_key=True)
        return data, positions, [issue]
    if not isinstance(environments[env], dict):
        issue = locator.issue(
            ("environments", env),
            f"an environment overlay must be a mapping, got {describe_value(environments[env])}",
        )
        return data, positions, [issue]
    shape_issues = _check_overlay_shapes({env: environments[env]}, locator)
    if shape_issues:
        return data, positions, shape_issues
    overlay = {k: v for k, v in environments[env].items() if k not in FIXED_TOP_LEVEL_KEYS}
    overlay_pos, _ = locator.node(("environments", env))
    assert overlay_pos is not None
    merged, merged_pos = merge(data, positions, overlay, overlay_pos)
    # The merged root keeps the base's own position and its untouched keys.
    merged_pos.mark = positions.mark
    return merged, merged_pos, []


def load_policy_file(path: str | Path) -> list[PolicyRule]:
    """The rules of a ``--policy FILE`` (``policies:`` and nothing else), with located
    errors like a spec's."""
    from reconciler.spec.policies import PolicyFile

    filename = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        reason = getattr(problem, "strerror", None) or str(problem)
        raise _fail(
            filename, [SpecIssue(filename, 0, 0, "", f"cannot read the policy file: {reason}")]
        ) from None
    try:
        document = read_yaml(text, filename)
    except YamlReadError as problem:
        raise _fail(filename, problem.issues) from None
    locator = Locator(filename, document.lazy_positions)
    data = document.data if document.data is not None else {}
    if not isinstance(data, dict):
        raise _fail(filename, [locator.issue((), "expected a mapping with `policies:`")])
    model, issues = validate_model(PolicyFile, data, locator)
    if model is None or any(i.level == "error" for i in issues):
        raise _fail(filename, [i for i in issues if i.level == "error"])
    return list(model.policies)
