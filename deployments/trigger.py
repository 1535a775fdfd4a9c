"""Start a deployment's run over Prefect's REST API and wait for it, as an outside system would.

Plain HTTP on purpose: it is the same two calls the README shows with curl (find the deployment id by
name, then `create_flow_run`), so the demo and the tests exercise what integrators use.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from typing import Any

import httpx
from prefect.client.schemas.objects import TERMINAL_STATES

FINAL_STATES = frozenset(state.value for state in TERMINAL_STATES)
"""The state types a run ends in, as the REST API spells them (Prefect's own `TERMINAL_STATES`)."""
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
"""A busy server (SQLite "database is locked" reads as 503) asks to be asked again, as Prefect's own client does."""


def authorization_header(auth_string: str) -> str:
    """The header Prefect's own client sends for PREFECT_API_AUTH_STRING: basic auth of the whole string."""
    return "Basic " + base64.b64encode(auth_string.encode()).decode()


class RunRefused(RuntimeError):
    """The server refused to create the run (HTTP 409: parameters do not match the flow's schema).

    The server names only the first invalid field; `problems` names every one, judged against the same schema.
    """

    def __init__(self, status: int, detail: str, problems: list[str] | None = None) -> None:
        self.problems = problems or []
        listed = f" ({len(self.problems)} invalid: " + "; ".join(self.problems) + ")" if len(self.problems) > 1 else ""
        super().__init__(f"HTTP {status}: {detail}{listed}")
        self.status = status
        self.detail = detail


def invalid_fields(parameters: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Every invalid field of `parameters` with its reason ("options.conflict_policy: 'maybe' is not one of ...").

    Validated with Prefect's own validator (the one the server uses). An optional field's "or null" alternative
    is left out of the reasons: nobody sending an object meant null.
    """
    from prefect.utilities.schema_tools.validation import validate

    problems: list[str] = []
    for error in validate(parameters, schema, raise_on_error=False):
        problems.extend(_reasons(error))
    return sorted(dict.fromkeys(problems))


def _reasons(error: Any) -> list[str]:
    alternatives = [e for e in (error.context or []) if not (e.validator == "type" and e.validator_value == "null")]
    if error.validator in ("anyOf", "oneOf") and alternatives:
        return [reason for alternative in alternatives for reason in _reasons(alternative)]
    where = str(error.json_path).removeprefix("$.").removeprefix("$") or "(parameters)"
    return [f"{where}: {error.message}"]


class PrefectApi:
    """A few REST calls against one Prefect server (`api_url` ends in `/api`).

    A server started with an auth string (`PREFECT_SERVER_API_AUTH_STRING`) answers 401 to anything else, so
    every call carries `auth_string`, by default the one Prefect's own client uses: `PREFECT_API_AUTH_STRING`.
    """

    def __init__(self, api_url: str, timeout: float = 30.0, *, auth_string: str | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        auth_string = auth_string if auth_string is not None else os.environ.get("PREFECT_API_AUTH_STRING")
        headers = {"Authorization": authorization_header(auth_string)} if auth_string else {}
        self.client = httpx.Client(base_url=self.api_url, timeout=timeout, headers=headers)

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
            raise RunRefused(409, str(response.json().get("detail", response.text)), self._problems(deployment_id, parameters))
        response.raise_for_status()
        return response.json()

    def _problems(self, deployment_id: str, parameters: dict[str, Any]) -> list[str]:
        """Every invalid field, against the deployment's parameter schema (best effort: [] if unreadable)."""
        response = self._request("GET", f"/deployments/{deployment_id}")
        schema = response.json().get("parameter_openapi_schema") if response.status_code == 200 else None
        return invalid_fields(parameters, schema) if isinstance(schema, dict) else []

    def flow_run(self, flow_run_id: str) -> dict[str, Any]:
        response = self._request("GET", f"/flow_runs/{flow_run_id}")
        response.raise_for_status()
        return response.json()

    def count_flow_runs(self, body: dict[str, Any] | None = None) -> int:
        response = self._request("POST", "/flow_runs/count", json=body or {})
        response.raise_for_status()
        return int(response.json())

    def progress(self, flow_run_id: str) -> dict[str, Any] | None:
        """The run's newest progress artifact (`data`: percent done, `description`: what it counts), if any."""
        body = {
            "artifacts": {"flow_run_id": {"any_": [flow_run_id]}, "type": {"any_": ["progress"]}},
            "sort": "CREATED_DESC",
            "limit": 1,
        }
        response = self._request("POST", "/artifacts/filter", json=body)
        response.raise_for_status()
        found = response.json()
        return found[0] if found else None

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
