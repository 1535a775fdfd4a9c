"""A flow run in a process of its own, so a test can SIGKILL it at any point.

`python -m tests.reliability.runner sync SLUG SITE_PATH DESTINATION_JSON OPTIONS_JSON` runs sync-to-cloud;
`python -m tests.reliability.runner reconcile SLUG` runs a reconcile. The Prefect server and the sync-state
database come from the environment (PREFECT_API_URL, ECSYNC_DATABASE_URL), as for a worker's child.
"""

from __future__ import annotations

import asyncio
import json
import sys


async def main(argv: list[str]) -> int:
    if argv[0] == "sync":
        from flows.sync_to_cloud import sync_to_cloud

        slug, item, destination, options = argv[1], argv[2], json.loads(argv[3]), json.loads(argv[4])
        state = await sync_to_cloud(items=[item], destination=destination, slug=slug, options=options, return_state=True)
    else:
        from flows.reconcile import reconcile

        state = await reconcile(slug=argv[1], return_state=True)
    print(f"{state.type.value}: {state.message}", flush=True)
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
