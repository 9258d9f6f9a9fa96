"""Scenario definitions, per-mode sizes, and the job description handed to each client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

MODES = ("full", "quick", "smoke")
REPETITIONS = {"full": 5, "quick": 3, "smoke": 1}
# Soft deadline a client stops starting new requests at (then reports partial=True), and
# the hard limit the runner kills it at (reported FAIL "timeout").
DEADLINE_S = {"full": 15.0, "quick": 1.5, "smoke": 10.0}
HARD_TIMEOUT_S = {"full": 90.0, "quick": 45.0, "smoke": 30.0}

SMALL_PATH = "/1k"
SMALL_SIZE = 1 * KiB
BIG_PATH = "/big"
MEM_PATH = "/huge"
UPLOAD_PATH = "/upload"
PIECE = 1 * MiB                  # upload bodies are produced in pieces of this size


@dataclass(frozen=True)
class Scenario:
    """One benchmark scenario. ``op``: get | put | cold | mem; ``unit``: req or MB."""

    name: str
    title: str
    op: str
    tls: bool
    h2: bool
    unit: str
    big: bool = False              # downloads BIG_PATH instead of SMALL_PATH
    connections: int = 1
    inflight: int = 1              # concurrent requests in total
    needs_nginx: bool = True


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("S1", "1 KiB GETs, sequential, 1 HTTP/1.1 conn", "get", False, False, "req"),
    Scenario("S2", "1 KiB GETs, sequential, 1 HTTP/1.1 TLS conn", "get", True, False, "req"),
    Scenario("S3", "1 KiB GETs, 100 in flight, 1 HTTP/2 TLS conn", "get", True, True, "req",
             inflight=100),
    Scenario("S4", "big download, HTTP/1.1", "get", False, False, "MB", big=True),
    Scenario("S5", "big download, HTTP/2 TLS", "get", True, True, "MB", big=True),
    Scenario("S6", "big upload, HTTP/1.1 (sink)", "put", False, False, "MB", needs_nginx=False),
    Scenario("S7", "1 KiB GETs, 64 HTTP/1.1 conns", "get", False, False, "req",
             connections=64, inflight=64),
    Scenario("S8", "cold: connect+TLS+GET+close", "cold", True, False, "req"),
    Scenario("M1", "memory: stream big down + up", "mem", False, False, "MB"),
)}

# Request counts (get/cold), transfer counts (big get/put), per mode.
COUNTS: dict[str, dict[str, int]] = {
    "full":  {"S1": 5000, "S2": 4000, "S3": 10000, "S4": 4, "S5": 1, "S6": 4,
              "S7": 10000, "S8": 200, "M1": 1},
    "quick": {"S1": 1000, "S2": 1000, "S3": 2000, "S4": 3, "S5": 1, "S6": 3,
              "S7": 2000, "S8": 30, "M1": 1},
    "smoke": {"S1": 20, "S2": 20, "S3": 200, "S4": 1, "S5": 1, "S6": 1,
              "S7": 128, "S8": 4, "M1": 1},
}
BIG_SIZE = {"full": 256 * MiB, "quick": 32 * MiB, "smoke": 4 * MiB}
MEM_SIZE = {"full": 1 * GiB, "quick": 64 * MiB, "smoke": 16 * MiB}


@dataclass(frozen=True)
class Endpoints:
    """Where the servers listen; a port is 0 when that server is not running."""

    host: str
    http_port: int
    https_port: int
    sink_port: int
    ca_file: str
    server_name: str = "localhost"


def make_job(scn: Scenario, mode: str, ep: Endpoints) -> dict[str, Any]:
    """The JSON-able job a client process runs (see clients/common.py: Job)."""
    big = BIG_SIZE[mode]
    get_path, get_size = (BIG_PATH, big) if scn.big else (SMALL_PATH, SMALL_SIZE)
    mem = MEM_SIZE[mode]
    return {
        "scenario": scn.name,
        "op": scn.op,
        "tls": scn.tls,
        "h2": scn.h2,
        "host": ep.host,
        "port": ep.https_port if scn.tls else ep.http_port,
        "server_name": ep.server_name,
        "ca_file": ep.ca_file,
        "path": MEM_PATH if scn.op == "mem" else get_path,
        "size": mem if scn.op == "mem" else (big if scn.op == "put" else get_size),
        "count": COUNTS[mode][scn.name],
        "connections": scn.connections,
        "inflight": scn.inflight,
        "sink_port": ep.sink_port,
        "upload_path": UPLOAD_PATH,
        "piece": PIECE,
        "warm_path": SMALL_PATH,
        "warm_size": SMALL_SIZE,
        "deadline_s": DEADLINE_S[mode],
    }
