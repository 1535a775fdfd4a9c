"""Finishing what a killed run left half done: the intents it committed before its calls.

A create whose answer never came back (the run was killed, or the connection dropped after the server made
the node) leaves a node that only the member's intent knows is ours. Recovery adopts it when it provably
is (the id the create answered with, or a node of that name whose bytes equal the source's, or an empty
folder); anything else is cleared and planned again. A stranger's node is never taken.
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any

from connectors.base import Node, Repository
from connectors.errors import NodeNotFoundError, RepositoryError, TransientError
from flows.recording import base_fields, synced_fields
from models import store
from models.tables import Member
from sync.model import Action
from sync.names import name_key
from tasks.retry import RetryPolicy
from tasks.streaming import hash_stream
from tasks.transfer import RunContext
from vocabulary import CLOUD, ONPREM, Intent, Side


class Recovery:
    """Adoption of the nodes interrupted creates made, for one run of one sync set."""

    def __init__(
        self, database_url: str, repositories: dict[Side, Repository], run_id: str, policy: RetryPolicy, log: Any
    ) -> None:
        self.db = database_url
        self.repositories = repositories
        self.run_id = run_id
        self.policy = policy
        self.log = log

    async def recover(self, members: list[Member]) -> None:
        """Adopt or clear every intent a killed run left. A transient failure keeps the intent (and fails the
        run's start): clearing it would turn the node made into a name clash later."""
        for member in members:
            if not member.intent or member.id is None:
                continue
            intent = Intent.from_json(member.intent)
            adopted = False
            if intent.can_adopt:
                try:
                    adopted = await self.policy.call(partial(self._adopt, member, intent), "adopt a half-done create")
                except TransientError:
                    raise
                except RepositoryError:
                    adopted = False
            if not adopted:
                store.update_member(self.db, member.id, intent=None, intent_at=None)
            self.log.info(
                "Recovered %s intent of %s: %s",
                intent.kind,
                member.rel_path or intent.name or member.onprem_id or member.cloud_id,
                "adopted the node it made" if adopted else "cleared; the plan decides again",
            )

    async def _adopt(self, member: Member, intent: Intent) -> bool:
        return await self._adopted_node(member, intent) is not None

    async def _adopted_node(self, member: Member, intent: Intent) -> tuple[Node, str | None] | None:
        """The node an earlier attempt of this create made, recorded as the member's pair; None if there is none.

        A file is adopted only when its bytes equal the source's; a folder only while it is empty (a create
        whose record was lost cannot have children yet: they wait for it), so a stranger's node is never taken.
        """
        assert intent.source_side is not None and intent.source_id is not None and intent.name is not None
        side, source_side = intent.side, intent.source_side
        repository = self.repositories[side]
        wanted = name_key(intent.name)
        found: Node | None = None
        if intent.made_id:  # the create succeeded and said which node it made: that one is certainly ours
            with contextlib.suppress(NodeNotFoundError):
                found = await repository.get(intent.made_id)
        if found is None and intent.parent_id is not None:
            async for page in repository.list_children(intent.parent_id):
                found = next((node for node in page if name_key(node.name) == wanted), found)
        if found is None:
            return None
        with store.session_scope(self.db) as session:
            paired = store.active_member_for_cloud(session, [found.id]) if side == CLOUD else []
            paired += store.active_member_for_onprem(session, [found.id]) if side == ONPREM else []
        if any(other.id != member.id for other, _ in paired):
            return None
        source = await self.repositories[source_side].get(intent.source_id)
        sha: str | None = None
        if not found.is_folder:
            if source.is_folder:
                return None
            made_sha, _ = await hash_stream(repository.download(found.id))
            source_sha, _ = await hash_stream(self.repositories[source_side].download(source.id))
            if made_sha != source_sha:
                return None
            sha = made_sha
        elif not source.is_folder:
            return None
        elif found.id != intent.made_id:
            async for page in repository.list_children(found.id):
                if page:
                    return None
        values = {**base_fields(side, found, sha), **base_fields(source_side, source, sha), **synced_fields(self.run_id)}
        assert member.id is not None
        store.update_member(self.db, member.id, **values)
        return found, sha

    async def adopt_after_clash(self, action: Action, context: RunContext, member_id: int) -> Node | None:
        """A create that met its own name: an earlier attempt whose answer was lost (a dropped connection
        after the server made the node) made it. Adopt that node instead of failing with a name clash.

        Raises TransientError when whether the node is ours could not be read: the caller keeps the intent.
        """
        member = store.get_member(self.db, member_id)
        if member is None or not member.intent:
            return None
        intent = Intent.from_json(member.intent)
        if not intent.can_adopt:
            return None
        try:
            adopted = await self.policy.call(lambda: self._adopted_node(member, intent), "adopt after a name clash")
        except TransientError:
            raise
        except RepositoryError:
            return None
        if adopted is None:
            return None
        node, sha = adopted
        assert intent.source_side is not None and intent.source_id is not None
        if sha is not None:
            context.sha[(action.side, node.id)] = sha
            context.sha[(intent.source_side, intent.source_id)] = sha
        context.created[(action.side, action.new_member or action.member)] = node
        context.remember(action.side, node)
        self.log.info("Adopted %s %s made by an earlier attempt whose answer was lost", action.side, node.name)
        return node
