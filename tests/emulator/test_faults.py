"""Fault injection: each fault happens as configured, and a seed repeats its pattern."""

from __future__ import annotations

import httpx
import pytest

from emulator.faults import DroppedConnection, FaultConfig, FaultRule
from emulator.store import Store
from tests.emulator.conftest import CORE, Emu

PEOPLE = f"{CORE}/people/-me-"


async def _pattern(seed: int, n: int = 40) -> list[int]:
    emu = Emu(Store(None), "onprem", faults=FaultConfig(seed=seed, rules=[FaultRule(path="/people/", rate=0.3, status=503)]))
    c = emu.client()
    statuses = [(await c.get(PEOPLE)).status_code for _ in range(n)]
    await emu.close()
    emu.store.close()
    return statuses


async def test_rate_is_seeded_and_repeatable() -> None:
    a, b, other = await _pattern(42), await _pattern(42), await _pattern(7)
    assert a == b
    assert a != other
    assert set(a) == {200, 503}
    assert 4 <= a.count(503) <= 20  # 30% of 40, loosely


async def test_fail_next_n_with_retry_after(onprem: Emu) -> None:
    admin = onprem.client()
    r = await admin.put(
        "/_emulator/faults",
        json={"rules": [{"method": "GET", "path": "/people/", "fail_next": 2, "status": 429, "retry_after": 3}]},
    )
    assert r.status_code == 200
    first, second, third = [await admin.get(PEOPLE) for _ in range(3)]
    assert first.status_code == second.status_code == 429
    assert first.headers["retry-after"] == "3"
    assert first.json()["error"]["statusCode"] == 429
    assert third.status_code == 200
    assert (await admin.post(f"{CORE}/nodes/-root-/lock", json={})).status_code == 400  # POST does not match
    stats = (await admin.get("/_emulator/stats")).json()
    assert stats["faultsInjected"] == 2
    assert stats["routes"]["GET /alfresco/api/{tenant}/public/alfresco/versions/1/people/{personId}"] == 3


async def test_only_matching_routes_fail(onprem: Emu) -> None:
    admin = onprem.client()
    await admin.put("/_emulator/faults", json={"rules": [{"path": "/children$", "rate": 1.0, "status": 500}]})
    assert (await admin.get(PEOPLE)).status_code == 200
    assert (await admin.get(f"{CORE}/nodes/-root-/children")).status_code == 500
    assert (await admin.get("/_emulator/health")).status_code == 200
    await admin.delete("/_emulator/faults")
    assert (await admin.get(f"{CORE}/nodes/-root-/children")).status_code == 200


async def test_dropped_connection_mid_body(onprem: Emu) -> None:
    admin = onprem.client()
    await admin.put("/_emulator/faults", json={"rules": [{"path": "/people/", "kind": "drop", "fail_next": 1}]})
    with pytest.raises(DroppedConnection):
        await admin.get(PEOPLE)
    assert (await admin.get(PEOPLE)).status_code == 200


async def test_slow_body_arrives_whole(onprem: Emu) -> None:
    admin = onprem.client()
    await admin.put(
        "/_emulator/faults",
        json={"rules": [{"path": "/people/", "kind": "slow", "fail_next": 1, "slow_bytes_per_sec": 1_000_000}]},
    )
    r = await admin.get(PEOPLE)
    assert r.status_code == 200 and r.json()["entry"]["id"] == "admin"


def test_latency_and_jitter_are_seeded() -> None:
    def delays(seed: int) -> list[float]:
        config = FaultConfig(
            seed=seed, latency_ms=20, jitter_ms=5, rules=[FaultRule(path="x", kind="latency", latency_ms=100, fail_next=1)]
        )
        return [config.decide("GET", "/x")[0] for _ in range(5)]

    a = delays(1)
    assert a == delays(1) and a != delays(2)
    assert 0.115 <= a[0] <= 0.125  # the one-off extra 100 ms
    assert all(0.015 <= d <= 0.025 for d in a[1:])


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError):
        FaultConfig.from_json({"rules": [{"kind": "explode"}]})
    with pytest.raises(ValueError):
        FaultConfig.from_json({"rules": [{"nonsense": 1}]})


async def test_bad_config_over_http_is_400(onprem: Emu) -> None:
    r = await onprem.client().put("/_emulator/faults", json={"rules": [{"rate": 2}]})
    assert r.status_code == 400
    assert isinstance(r, httpx.Response)
