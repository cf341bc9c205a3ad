"""Saved plans: ``plan --out PLANFILE`` writes one, ``apply PLANFILE`` carries it out.

A plan file is JSON (documented in ``docs/gitops.md``)::

    {"planfile_format_version": "1.0", "tool_version": "0.1.0",
     "created_at": "2024-05-01T12:00:00Z",
     "spec": {"path": "cluster-spec.yaml", "sha256": "...", "env": "prod"},
     "target": "kafka", "targets": ["kafka"], "allow_delete": false,
     "fingerprints": {"kafka_topic.orders": "3f2a..."},
     "plan": {...the plan's versioned JSON form, redacted...},
     "checksum": "sha256 of everything above"}

``apply PLANFILE`` refuses (exit 3) a plan whose spec or any touched resource changed since
it was made (:func:`staleness`): the fingerprints are the providers' hashes of the live
state each change was computed from.

A plan file never holds a secret: the caller passes the plan's JSON form through the
renderers' redaction before :func:`planfile_document` (this module cannot import them).
Secret values a change needs are redacted to a marker and filled in again at apply time
from a fresh plan of the same spec (:func:`restore_redacted`), whose secrets come from the
spec's ``fromEnv``/``fromFile`` references at that moment.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from msgspec import Struct, field

from reconciler.engine.plan import Change, Plan
from reconciler.errors import ReconcilerError, SafetyRefusal

PLANFILE_FORMAT_VERSION = "1.0"
_SUPPORTED_MAJOR = "1"
MAX_PLANFILE_BYTES = 256 * 1024 * 1024


class PlanFileError(ReconcilerError):
    """The plan file cannot be read (missing, not JSON, unknown format): exit 1."""


class SavedPlan(Struct, frozen=True):
    """A plan file as read back."""

    plan: Plan
    plan_dict: dict[str, Any]
    spec_path: str
    spec_sha256: str
    env: str | None
    target: str | None
    targets: tuple[str, ...]
    allow_delete: bool
    tool_version: str
    created_at: str
    fingerprints: dict[str, str] = field(default_factory=dict)
    allow_data_loss: bool = False
    exclude: tuple[str, ...] = ()
    format_version: str = PLANFILE_FORMAT_VERSION
    path: str = "<plan file>"
    signed: bool = False

    @property
    def touched_addresses(self) -> list[str]:
        return [c.address for c in self.plan.actionable]


def _canonical_body(document: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in document.items() if k not in {"checksum", "signature"}}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def checksum(document: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``document`` without its ``checksum`` and
    ``signature`` keys.

    It detects truncation and hand edits; it is not a signature (anyone can recompute it):
    :func:`signature` is, when a signing key is configured.
    """
    return hashlib.sha256(_canonical_body(document)).hexdigest()


def signature(document: Mapping[str, Any], key: bytes) -> str:
    """HMAC-SHA256 of the canonical plan document with ``key`` (``hmac-sha256:<hex>``)."""
    return "hmac-sha256:" + hmac.new(key, _canonical_body(document), hashlib.sha256).hexdigest()


def _check_signature(document: Mapping[str, Any], key: bytes | None, path: str) -> bool:
    """Refuse (exit 3) a plan whose signature is missing or wrong when a key is set."""
    recorded = document.get("signature")
    if key is None:
        return isinstance(recorded, str)
    if not isinstance(recorded, str):
        raise SafetyRefusal(
            f"{path}: the plan file is not signed, and a signing key is set; nothing was changed",
            hint="plan again with the same signing key in the environment",
        )
    if not hmac.compare_digest(recorded, signature(document, key)):
        raise SafetyRefusal(
            f"{path}: the plan file's signature does not match (altered, or signed with "
            "another key); nothing was changed",
            hint="plan again with the same signing key and apply the new plan file unmodified",
        )
    return True


def planfile_document(
    *,
    plan_dict: Mapping[str, Any],
    spec_path: str,
    spec_sha256: str,
    env: str | None,
    target: str | None,
    targets: Sequence[str],
    allow_delete: bool,
    fingerprints: Mapping[str, str],
    tool_version: str,
    created_at: str,
    allow_data_loss: bool = False,
    exclude: Sequence[str] = (),
    signing_key: bytes | None = None,
) -> dict[str, Any]:
    """The JSON document of a plan file; ``plan_dict`` must already be redacted. With a
    ``signing_key`` the document is signed (:func:`signature`)."""
    document: dict[str, Any] = {
        "planfile_format_version": PLANFILE_FORMAT_VERSION,
        "tool_version": tool_version,
        "created_at": created_at,
        "spec": {"path": spec_path, "sha256": spec_sha256, "env": env},
        "target": target,
        "targets": list(targets),
        "allow_delete": allow_delete,
        "allow_data_loss": allow_data_loss,
        "exclude": list(exclude),
        "fingerprints": dict(sorted(fingerprints.items())),
        "plan": dict(plan_dict),
    }
    document["checksum"] = checksum(document)
    if signing_key is not None:
        document["signature"] = signature(document, signing_key)
    return document


def write_atomically(path: str | Path, text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and
    ``os.replace``: readers see the old file or the new one, never half of one."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_planfile(path: str | Path, document: Mapping[str, Any]) -> None:
    write_atomically(path, json.dumps(document, indent=2, ensure_ascii=True) + "\n")


def _require(
    document: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: str
) -> Any:
    value = document.get(key)
    if not isinstance(value, kind):
        raise PlanFileError(
            f"{path}: not a plan file of this tool (`{key}` is missing or has the wrong type)"
        )
    return value


def parse_planfile(
    document: Any, path: str = "<plan file>", *, signing_key: bytes | None = None
) -> SavedPlan:
    """Check and read a plan file's JSON document (and its signature when a key is set)."""
    if not isinstance(document, dict) or "planfile_format_version" not in document:
        raise PlanFileError(
            f"{path}: not a plan file of this tool (no planfile_format_version)",
            hint="write one with: llm-analytics plan -f SPEC --out PLANFILE",
        )
    version = str(document["planfile_format_version"])
    if version.split(".", 1)[0] != _SUPPORTED_MAJOR:
        raise PlanFileError(
            f"{path}: plan file format {version} is not supported (this tool "
            f"reads {_SUPPORTED_MAJOR}.x)",
            hint="plan again with this version",
        )
    recorded = document.get("checksum")
    if recorded != checksum(document):
        raise SafetyRefusal(
            f"{path}: the plan file was changed or truncated after it was "
            "written (checksum mismatch); nothing was changed",
            hint="plan again and apply the new plan file unmodified",
        )
    signed = _check_signature(document, signing_key, path)
    spec = _require(document, "spec", dict, path)
    plan_dict = _require(document, "plan", dict, path)
    fingerprints = _require(document, "fingerprints", dict, path)
    targets = _require(document, "targets", list, path)
    try:
        plan = Plan.from_json_dict(plan_dict)
    except ValueError as problem:  # pydantic's ValidationError is a ValueError
        raise SafetyRefusal(
            f"{path}: the saved plan is not valid ({str(problem).splitlines()[0]}); "
            "nothing was changed",
            hint="plan again and apply the new plan file unmodified",
        ) from None
    return SavedPlan(
        plan=plan,
        plan_dict=plan_dict,
        spec_path=str(_require(spec, "path", str, path)),
        spec_sha256=str(_require(spec, "sha256", str, path)),
        env=spec.get("env") if isinstance(spec.get("env"), str) else None,
        target=document.get("target") if isinstance(document.get("target"), str) else None,
        targets=tuple(str(t) for t in targets),
        allow_delete=bool(document.get("allow_delete", False)),
        allow_data_loss=bool(document.get("allow_data_loss", False)),
        exclude=tuple(str(e) for e in document.get("exclude", []) if isinstance(e, str)),
        tool_version=str(document.get("tool_version", "?")),
        created_at=str(document.get("created_at", "?")),
        fingerprints={str(k): str(v) for k, v in fingerprints.items()},
        format_version=version,
        path=path,
        signed=signed,
    )


def read_planfile(path: str | Path, *, signing_key: bytes | None = None) -> SavedPlan:
    """Read and check a plan file; :class:`PlanFileError` (exit 1) when unreadable or not a
    plan file, :class:`SafetyRefusal` (exit 3) when it was modified or truncated after it
    was written, or its signature is missing or wrong while a key is set."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_PLANFILE_BYTES:
            raise PlanFileError(f"{path}: too large for a plan file")
        text = file.read_text(encoding="utf-8")
    except OSError as problem:
        raise PlanFileError(
            f"cannot read the plan file {path}: {problem.strerror or problem}"
        ) from None
    except UnicodeDecodeError:
        raise PlanFileError(f"{path}: not a plan file (not UTF-8 text)") from None
    try:
        document = json.loads(text)
    except ValueError as problem:
        if '"planfile_format_version"' in text[:4096]:
            raise SafetyRefusal(
                f"{path}: the plan file is truncated or damaged (invalid JSON: {problem}); "
                "nothing was changed",
                hint="plan again and apply the new plan file unmodified",
            ) from None
        raise PlanFileError(f"{path}: not a plan file (invalid JSON: {problem})") from None
    return parse_planfile(document, str(path), signing_key=signing_key)


# --------------------------------------------------------------------------- staleness


def staleness(
    saved: SavedPlan, *, spec_sha256: str, fingerprints_now: Mapping[str, str]
) -> list[str]:
    """Why ``saved`` no longer matches the spec and the live state (empty: it still does)."""
    reasons: list[str] = []
    if spec_sha256 != saved.spec_sha256:
        reasons.append(
            f"the spec changed since the plan was made (sha256 "
            f"{saved.spec_sha256[:12]}… at plan time, {spec_sha256[:12]}… now)"
        )
    for key, recorded in sorted(saved.fingerprints.items()):
        if key.startswith("@") and key in fingerprints_now and fingerprints_now[key] != recorded:
            reasons.append(
                f"the plan was made against another {key[1:].capitalize()} cluster "
                f"({recorded[:16]} then, {fingerprints_now[key][:16]} now)"
            )
    for address in saved.touched_addresses:
        before = saved.fingerprints.get(address)
        now = fingerprints_now.get(address)
        if before is None:
            reasons.append(f"{address}: the plan file has no fingerprint of it")
        elif now is None:
            reasons.append(f"{address}: its live state cannot be read now")
        elif before != now:
            reasons.append(f"{address}: changed in the cluster since the plan was made")
    return reasons


def stale_refusal(planfile: str, reasons: Sequence[str]) -> SafetyRefusal:
    lines = "\n".join(f"  - {reason}" for reason in reasons)
    return SafetyRefusal(
        f"the saved plan {planfile} is stale; nothing was changed:\n{lines}",
        hint="run plan again (llm-analytics plan ... --out PLANFILE), review it, then apply "
        "the new plan file",
    )


# --------------------------------------------------------------------------- secrets


def _marked_paths(value: Any, marker: str, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [path] if value == marker else []
    if isinstance(value, Mapping):
        return [p for key, item in value.items() for p in _marked_paths(item, marker, (*path, key))]
    if isinstance(value, list | tuple):
        return [
            p
            for index, item in enumerate(value)
            for p in _marked_paths(item, marker, (*path, index))
        ]
    return []


def redacted_changes(plan: Plan, marker: str) -> dict[str, list[tuple[Any, ...]]]:
    """address -> payload paths whose value is the redaction marker."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for change in plan.actionable:
        paths = _marked_paths(change.payload, marker)
        if paths:
            found[change.address] = paths
    return found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        found = (isinstance(value, Mapping) and part in value) or (
            isinstance(value, list | tuple) and isinstance(part, int) and part < len(value)
        )
        if not found:
            raise KeyError(part)
        value = value[part]
    return value


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, Mapping):
        copy = dict(value)
        copy[head] = _set(value[head], rest, new)
        return copy
    copy_list = list(value)
    copy_list[head] = _set(value[head], rest, new)
    return copy_list


def restore_redacted(saved: Plan, fresh: Plan, marker: str) -> Plan:
    """``saved`` with every redacted payload value taken from ``fresh`` (the same change
    planned again from the spec now). Refuses (exit 3) when ``fresh`` lacks it."""
    wanted = redacted_changes(saved, marker)
    if not wanted:
        return saved
    fresh_by_address = {c.address: c for c in fresh.actionable}
    changes: list[Change] = []
    for change in saved.changes:
        paths = wanted.get(change.address)
        if not paths:
            changes.append(change)
            continue
        source = fresh_by_address.get(change.address)
        if source is None or source.action is not change.action:
            raise SafetyRefusal(
                f"{change.address}: the saved plan holds a secret value that is not stored in "
                "plan files, and planning the spec again no longer yields this change; "
                "nothing was changed",
                hint="plan again and apply the new plan file",
            )
        payload: Any = change.payload
        for path in paths:
            try:
                value = _get(source.payload, path)
            except KeyError:
                raise SafetyRefusal(
                    f"{change.address}: cannot restore the redacted value at "
                    f"{'.'.join(map(str, path))} from the spec; nothing was changed",
                    hint="plan again and apply the new plan file",
                ) from None
            payload = _set(payload, path, value)
        changes.append(change.model_copy(update={"payload": payload}))
    return saved.model_copy(update={"changes": tuple(changes)})


__all__ = [
    "PLANFILE_FORMAT_VERSION",
    "PlanFileError",
    "SavedPlan",
    "checksum",
    "parse_planfile",
    "planfile_document",
    "read_planfile",
    "redacted_changes",
    "restore_redacted",
    "signature",
    "stale_refusal",
    "staleness",
    "write_atomically",
    "write_planfile",
]
