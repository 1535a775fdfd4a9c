"""The mass-delete guard (rclone's --max-delete, Unison's confirmbigdel), per sync set.

A reconcile that would delete more than `max_delete_percent` of the members, and at least 10 of them, is
more likely a broken scan or a mistaken move than an intent: hold every delete and say so.
"""

from __future__ import annotations

from sync.model import Action, ActionKind, DeleteGuard, Options, Skip

MIN_DELETES = 10


def apply_delete_guard(
    decisions: dict[str, list[Action]], skipped: dict[str, Skip], members: int, options: Options
) -> DeleteGuard:
    """Count the members the plan deletes; when over the limit (and not forced) remove their actions."""
    deleting = sorted(k for k, acts in decisions.items() if any(a.kind == ActionKind.DELETE for a in acts))
    count, limit = len(deleting), options.max_delete_percent
    over = count >= MIN_DELETES and count * 100 > limit * max(members, 1)
    percent = 100.0 * count / max(members, 1)
    if not over:
        message = f"{count} of {members} members to delete: within the {limit}% limit"
        return DeleteGuard(count, members, limit, options.force, False, message)
    if options.force:
        message = f"{count} of {members} members ({percent:.0f}%) deleted above the {limit}% limit: forced"
        return DeleteGuard(count, members, limit, True, False, message)
    for key in deleting:
        del decisions[key]
        skipped[key] = Skip(key, "held by the delete guard")
    message = (
        f"Refusing to delete {count} of {members} members ({percent:.0f}% > max_delete_percent {limit}%): "
        "nothing of this sync set was deleted. Check the sync set, then run again with force=true to let "
        "the deletes through."
    )
    return DeleteGuard(count, members, limit, False, True, message)
