"""Describe the machine and the software a benchmark ran on."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any

from .servers import find_nginx, nginx_version

PACKAGES = ("awscrt", "crt_http", "aiohttp", "httpx", "h2", "h11", "hpack", "uvloop")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg() -> str:
    """1-minute load average: anything well above 0 on a quiet machine means noisy figures."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def describe(nginx: str | None = None) -> dict[str, Any]:
    """CPU, cores, memory, kernel, Python, package and nginx versions."""
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem_gib = 0.0
    binary = find_nginx(nginx)
    ngx = ".".join(map(str, nginx_version(binary))) if binary else "absent"
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
        "nginx": ngx,
        "loadavg": loadavg(),
        "packages": versions(),
    }


def one_line(m: dict[str, Any]) -> str:
    pk = m["packages"]
    libs = ", ".join(f"{k} {v}" for k, v in pk.items() if v != "-")
    return (f"{m['cpu']}, {m['usable_cores']} cores, {m['memory_gib']} GiB; {m['kernel']}; "
            f"{m['python']}; nginx {m['nginx']}; {libs}")
