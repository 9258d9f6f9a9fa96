"""The benchmark harness runs end to end (``python -m benchmarks.run --smoke``): no rot.

Tiny counts, one repetition, no thresholds. Every awscrt, aiohttp, httpx and raw run must
succeed; crt_http runs must too once ``crt_http.aio.http`` offers AIOHttpClientConnection
(until then they are expected to fail: xfail). Without nginx, the scenarios that need it
must be reported as skipped with the reason.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
RUN_CAP_S = 120

pytestmark = pytest.mark.timeout(RUN_CAP_S + 60)

for _mod in ("awscrt", "aiohttp", "httpx", "trustme", "hpack"):
    pytest.importorskip(_mod, reason=f"{_mod} missing: install the bench extra")

REFERENCE_CLIENTS = ("awscrt-sync", "awscrt-aio", "aiohttp", "aiohttp-uvloop", "httpx", "raw")
NGINX_SCENARIOS = ("S1", "S2", "S3", "S4", "S5", "S7", "S8", "M1")


def crt_http_missing() -> str | None:
    """Why the crt_http clients cannot run yet, or None when they must succeed."""
    try:
        mod = importlib.import_module("crt_http.aio.http")
    except Exception as exc:  # noqa: BLE001 - any import failure means "not there yet"
        return f"crt_http.aio.http does not import: {type(exc).__name__}: {exc}"
    if not hasattr(mod, "AIOHttpClientConnection"):
        return "crt_http.aio.http has no AIOHttpClientConnection yet"
    return None


def run_bench(out: Path, *extra: str) -> dict[str, Any]:
    """Run the runner in smoke mode into ``out``; return the runs JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(out), "--seed", "7",
         *extra],
        cwd=str(REPO), capture_output=True, text=True, timeout=RUN_CAP_S)
    assert proc.returncode == 0, f"runner failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    files = sorted(out.glob("runs-*.json"))
    assert files, f"no runs JSON in {out}: {proc.stderr[-2000:]}"
    data: dict[str, Any] = json.loads(files[-1].read_text())
    data["stdout"] = proc.stdout
    data["out"] = out
    return data


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_bench(tmp_path_factory.mktemp("bench"))


def failures(runs: list[dict[str, Any]], clients: tuple[str, ...] | None) -> list[str]:
    return [f"{r['scenario']} {r['client']}: {r.get('reason')}" for r in runs
            if r["status"] == "fail" and (clients is None or r["client"] in clients)]


def test_table_produced(smoke: dict[str, Any]) -> None:
    table = (smoke["out"] / "latest.md").read_text()
    assert "| Scen. | Client | Throughput" in table
    assert "| Scen. | Client | Throughput" in smoke["stdout"]
    assert smoke["mode"] == "smoke"
    cells = {(c["scenario"], c["client"]) for c in smoke["summary"]}
    assert {("S1", "awscrt-sync"), ("S6", "raw")} <= cells
    # every run is accounted for: ok, fail, n/a or skip, each non-ok one with a reason
    for r in smoke["runs"]:
        assert r["status"] in ("ok", "fail", "n/a", "skip"), r
        if r["status"] != "ok":
            assert r.get("reason"), r


def test_reference_clients_succeed(smoke: dict[str, Any]) -> None:
    assert not failures(smoke["runs"], REFERENCE_CLIENTS)
    ran = {(r["scenario"], r["client"]) for r in smoke["runs"] if r["status"] == "ok"}
    assert ("S6", "raw") in ran and ("S6", "awscrt-sync") in ran


def test_crt_http_clients(smoke: dict[str, Any]) -> None:
    crt = tuple(c for c in smoke["clients"] if c.startswith("crt_http"))
    missing = crt_http_missing()
    if missing:
        pytest.xfail(missing)
    assert not failures(smoke["runs"], crt)


def test_nginx_scenarios_skipped_without_nginx(smoke: dict[str, Any], tmp_path: Path) -> None:
    def check_skips(data: dict[str, Any], scenarios: tuple[str, ...]) -> None:
        for r in data["runs"]:
            if r["scenario"] in scenarios:
                assert r["status"] in ("skip", "n/a"), r
                assert "nginx" in r["reason"] or r["status"] == "n/a", r

    if smoke["machine"]["nginx"] == "absent" or any(
            r["status"] == "skip" for r in smoke["runs"]):
        check_skips(smoke, NGINX_SCENARIOS)
    forced = run_bench(tmp_path, "--nginx", str(tmp_path / "no-such-nginx"),
                       "--scenarios", "S1,S6", "--clients", "raw")
    check_skips(forced, ("S1",))
    assert [r["status"] for r in forced["runs"] if r["scenario"] == "S6"] == ["ok"]


def test_instruction_count_loop_runs() -> None:
    """The loop `make instructions` counts under valgrind runs and checks every response."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.instructions", "--loop", "30"],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "30 requests, every response checked"
