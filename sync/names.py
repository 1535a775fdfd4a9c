"""Name rules: Alfresco's case-insensitive clashes and the keep-both conflict copy name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from vocabulary import Side


def name_key(name: str) -> str:
    """The key under which Alfresco keeps a name unique in its folder: the name lower-cased, nothing more.

    Alfresco's `ChildAssocEntity.getChildNameUnique` (repository module, `org.alfresco.repo.domain.node`)
    stores `childName.toLowerCase()` (its CRC32 and its first 50 characters) for every `cm:name`, and the
    database's unique key on (parent, association type, that CRC, that short name) is what refuses a
    second child of the same name (`AbstractNodeDAOImpl` turns the violation into
    `DuplicateChildNodeNameException`, HTTP 409). So `A.txt` and `a.txt` are one name, but `ß.txt` and
    `SS.txt` are two: lower-casing keeps `ß`, whereas `str.casefold()` would fold it to `ss` and report a
    clash Alfresco does not have. Python's `str.lower()` follows the same Unicode default mapping as Java's
    `String.toLowerCase()` in a non-Turkic locale (final sigma included); a server whose JVM runs in a
    Turkish or Azeri default locale lower-cases `I` differently, which this key does not follow.
    """
    return name.lower()


def conflict_name(name: str, loser: Side, now: datetime, attempt: int = 1) -> str:
    """`name (conflict from on-prem 2026-11-27 140512).ext`: the suffix goes before the extension so the
    copy still opens with the right application. The stamp has seconds so that conflicts of one file a
    minute apart get different names; `attempt` 2, 3, ... adds a counter (`... 140512 2).ext`) for the
    rarer case that the name is taken all the same (two conflicts in one second, or a user's file)."""
    label = "on-prem" if loser == "onprem" else "cloud"
    counter = f" {attempt}" if attempt > 1 else ""
    suffix = f" (conflict from {label} {now:%Y-%m-%d %H%M%S}{counter})"
    dot = name.rfind(".")
    if dot > 0:
        return f"{name[:dot]}{suffix}{name[dot:]}"
    return f"{name}{suffix}"


def free_conflict_name(name: str, loser: Side, now: datetime, taken: Callable[[str], bool]) -> str:
    """The first conflict copy name that `taken` says is free (compared by `name_key`, as Alfresco does).

    Deterministic: the same inputs always give the same name, so a plan can be recomputed and compared.
    """
    attempt = 1
    while True:
        candidate = conflict_name(name, loser, now, attempt)
        if not taken(name_key(candidate)):
            return candidate
        attempt += 1


def temp_name(name: str, member: str) -> str:
    """A name no user picks, for a rename that must step aside so a swap of two names can happen."""
    return f"{name}.ecsync-tmp-{member.replace(':', '-')}"
