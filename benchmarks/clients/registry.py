"""The clients the runner knows: module to run, its arguments, the scenarios it cannot do."""

from __future__ import annotations

from dataclasses import dataclass, field

H2_NA = "aiohttp has no HTTP/2 client"
MEM_NA = "the memory check (M1) covers the awscrt-API clients only"
GEN_NA = "no upload: the same as crt_http-aio-uvloop"


@dataclass(frozen=True)
class ClientSpec:
    """A client: ``python -m <module> --job ... <args>``; ``na``: scenario -> why not."""

    name: str
    module: str
    args: tuple[str, ...] = ()
    na: dict[str, str] = field(default_factory=dict)
    default: bool = True          # part of the default client set


def _spec(name: str, module: str, *args: str, na: dict[str, str] | None = None,
          default: bool = True) -> ClientSpec:
    return ClientSpec(name, f"benchmarks.clients.{module}", args, na or {}, default)


CLIENTS: dict[str, ClientSpec] = {c.name: c for c in (
    _spec("awscrt-sync", "crt_sync", "--package", "awscrt"),
    _spec("awscrt-aio", "crt_aio", "--package", "awscrt"),
    _spec("crt_http-sync", "crt_sync", "--package", "crt_http"),
    _spec("crt_http-aio", "crt_aio", "--package", "crt_http"),
    _spec("crt_http-aio-uvloop", "crt_aio", "--package", "crt_http", "--uvloop"),
    _spec("crt_http-aio-uvloop-gen", "crt_aio", "--package", "crt_http", "--uvloop",
          "--body-generator", na={s: GEN_NA for s in ("S1", "S2", "S3", "S4", "S5", "S7", "S8")}),
    _spec("aiohttp", "aiohttp_client", na={"S3": H2_NA, "S5": H2_NA, "M1": MEM_NA}),
    _spec("aiohttp-uvloop", "aiohttp_client", "--uvloop",
          na={"S3": H2_NA, "S5": H2_NA, "M1": MEM_NA}),
    _spec("httpx", "httpx_client", na={"M1": MEM_NA}),
    _spec("raw", "raw", na={"M1": MEM_NA}),
    _spec("raw-asyncio", "raw", "--no-uvloop", na={"M1": MEM_NA}, default=False),
)}

REFERENCE = "awscrt-sync"      # the ratio column "x awscrt-sync"
CEILING = "raw"                # the ratio column "x raw"
PROFILE_DEFAULT = "crt_http-aio"


def is_crt_http(name: str) -> bool:
    """True for the clients that run crt_http (they fail until crt_http is importable)."""
    return name.startswith("crt_http")
