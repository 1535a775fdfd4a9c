"""Name rules: Alfresco's case-insensitive clashes and the keep-both conflict copy name."""

from __future__ import annotations

from datetime import datetime

from vocabulary import Side


def name_key(name: str) -> str:
    """Alfresco treats `A.txt` and `a.txt` in one folder as the same name."""
    return name.casefold()


def conflict_name(name: str, loser: Side, now: datetime) -> str:
    """`name (conflict from on-prem 2026-11-27 1405).ext`: the suffix goes before the extension so the
    copy still opens with the right application."""
    label = "on-prem" if loser == "onprem" else "cloud"
    suffix = f" (conflict from {label} {now:%Y-%m-%d %H%M})"
    dot = name.rfind(".")
    if dot > 0:
        return f"{name[:dot]}{suffix}{name[dot:]}"
    return f"{name}{suffix}"


def temp_name(name: str, member: str) -> str:
    """A name no user picks, for a rename that must step aside so a swap of two names can happen."""
    return f"{name}.ecsync-tmp-{member.replace(':', '-')}"
