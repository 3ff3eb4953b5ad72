"""Name what differs between two records (settings, fingerprints): the detail of a refused resume."""
from __future__ import annotations


def flatten(record: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    flat = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def describe_changes(before: dict, now: dict, shown: int = 4) -> str:
    """'data.files: was 36, now 37; data.sha256: was 5c1f..., now 9ab0...' (long values shortened)."""
    old, new = flatten(before), flatten(now)
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k, "<absent>") != new.get(k, "<absent>"))
    parts = [f"{k}: was {_short(old.get(k, '<absent>'))}, now {_short(new.get(k, '<absent>'))}" for k in keys[:shown]]
    if len(keys) > shown:
        parts.append(f"and {len(keys) - shown} more")
    return "; ".join(parts) or "no difference found"


def _short(value) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 24 else text[:12] + "..."
