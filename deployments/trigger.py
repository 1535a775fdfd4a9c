"""Start a deployment's run over Prefect's REST API and wait for it, as an outside system would.

Plain HTTP on purpose: it is the same two calls the README shows with curl (find the deployment id by
name, then `create_flow_run`), so the demo and the tests exercise what integrators use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from prefect.client.schemas.objects import TERMINAL_STATES

FINAL_STATES = frozenset(state.value for state in TERMINAL_STATES)
"""The state types a run ends in, as the REST API spells them (Prefect's own `TERMINAL_STATES`)."""
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
"""A busy server (SQLite "database is locked" reads as 503) asks to be asked again, as Prefect's own client does."""


class RunRefused(RuntimeError):
    """The server refused to create the run (HTTP 409: parameters do not match the flow's schema)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class PrefectApi:
    """A few REST calls against one Prefect server (`api_url` ends in `/api`)."""

    def __init__(self, api_url: str, timeout: float = 30.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.client = httpx.Client(base_url=self.api_url, timeout=timeout)

    def close(self) -> None:
        self.client.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call, retried with backoff on a busy server or a dropped connection."""
        for attempt in range(6):
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TransportError:
                if attempt == 5:
                    raise
            else:
                if response.status_code not in RETRIED_STATUSES or attempt == 5:
                    return response
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    time.sleep(min(float(retry_after), 10.0))
                    continue
            time.sleep(0.25 * 2**attempt)
        raise AssertionError("unreachable")

    def __enter__(self) -> PrefectApi:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def deployment_id(self, flow: str, deployment: str) -> str | None:
        response = self._request("GET", f"/deployments/name/{flow}/{deployment}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return str(response.json()["id"])

    def wait_for_deployments(self, names: list[tuple[str, str]], timeout: float = 90.0) -> dict[str, str]:
        """Ids of `(flow, deployment)` names once all exist (a serve process registers them as it starts)."""
        deadline = time.monotonic() + timeout
        found: dict[str, str] = {}
        while True:
            for flow, deployment in names:
                key = f"{flow}/{deployment}"
                if key not in found and (deployment_id := self.deployment_id(flow, deployment)):
                    found[key] = deployment_id
            if len(found) == len(names):
                return found
            if time.monotonic() > deadline:
                missing = sorted({f"{f}/{d}" for f, d in names} - set(found))
                raise TimeoutError(f"deployments not registered within {timeout:.0f}s: {', '.join(missing)}")
            time.sleep(0.5)

    def create_flow_run(
        self,
        deployment_id: str,
        parameters: dict[str, Any],
        *,
        tags: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"parameters": parameters}
        if tags:
            body["tags"] = tags
        if idempotency_key:
            body["idempotency_key"] = idempotency_key
        response = self._request("POST", f"/deployments/{deployment_id}/create_flow_run", json=body)
        if response.status_code == 409:
            raise RunRefused(409, str(response.json().get("detail", response.text)))
        response.raise_for_status()
        return response.json()

    def flow_run(self, flow_run_id: str) -> dict[str, Any]:
        response = self._request("GET", f"/flow_runs/{flow_run_id}")
        response.raise_for_status()
        return response.json()

    def count_flow_runs(self, body: dict[str, Any] | None = None) -> int:
        response = self._request("POST", "/flow_runs/count", json=body or {})
        response.raise_for_status()
        return int(response.json())

    def count_task_runs(self, flow_run_id: str, state_types: list[str] | None = None) -> int:
        task_runs: dict[str, Any] = {}
        if state_types:
            task_runs["state"] = {"type": {"any_": state_types}}
        body = {"flow_runs": {"id": {"any_": [flow_run_id]}}, "task_runs": task_runs}
        response = self._request("POST", "/task_runs/count", json=body)
        response.raise_for_status()
        return int(response.json())

    def read_flow_runs(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Every matching flow run (the API caps a page at 200 rows, so this pages)."""
        return self._read_all("/flow_runs/filter", body)

    def read_task_runs(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Every matching task run (recorded from events: a run's task runs appear a moment after it ends)."""
        return self._read_all("/task_runs/filter", body)

    def _read_all(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        while True:
            response = self._request("POST", path, json={**body, "limit": 200, "offset": len(rows)})
            response.raise_for_status()
            page = response.json()
            rows.extend(page)
            if len(page) < 200:
                return rows

    def wait(
        self,
        flow_run_id: str,
        timeout: float = 300.0,
        on_poll: Callable[[dict[str, Any]], object] | None = None,
        interval: float = 0.5,
    ) -> dict[str, Any]:
        """The flow run once it is in a final state; `on_poll` sees it on every poll (for a progress display)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.flow_run(flow_run_id)
            if on_poll is not None:
                on_poll(run)
            if (run.get("state") or {}).get("type") in FINAL_STATES:
                return run
            if time.monotonic() > deadline:
                state = (run.get("state") or {}).get("name")
                raise TimeoutError(f"flow run {run.get('name')} ({flow_run_id}) still {state} after {timeout:.0f}s")
            time.sleep(interval)


def state_of(run: dict[str, Any]) -> tuple[str, str]:
    """(state type, state message) of a flow run as the REST API returns it."""
    state = run.get("state") or {}
    return str(state.get("type") or ""), str(state.get("message") or "")
