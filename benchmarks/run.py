"""Benchmark runner: ``python -m benchmarks.run [--quick|--full|--smoke] [options]``.

Starts nginx and the upload sink on loopback, runs every (scenario, client) pair in a fresh
child process, repetitions interleaved in a shuffled client order, and writes
``latest.md`` (printed too), ``runs-<timestamp>.json`` and ``ratios.png`` to the output
directory. ``--profile S3`` instead runs one client (crt_http-aio unless ``--clients`` says
otherwise) on one scenario under cProfile and prints the top functions.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import machine, report
from .clients.common import RESULT_PREFIX
from .clients.registry import CLIENTS, PROFILE_DEFAULT, ClientSpec
from .scenarios import BIG_SIZE, HARD_TIMEOUT_S, MEM_SIZE, REPETITIONS, SCENARIOS, make_job
from .servers import REPO, Servers

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    for m, what in (("full", "5 repetitions, full sizes (~15 min)"),
                    ("quick", "3 repetitions, smaller sizes (< 3 min; the default)"),
                    ("smoke", "1 repetition, tiny counts: checks that everything runs")):
        mode.add_argument(f"--{m}", dest="mode", action="store_const", const=m, help=what)
    p.add_argument("--scenarios", help="comma-separated, e.g. S1,S4 (default: all)")
    p.add_argument("--clients", help="comma-separated client names (default: all default "
                   f"clients; known: {', '.join(CLIENTS)})")
    p.add_argument("--repetitions", type=int, help="override the mode's repetition count")
    p.add_argument("--profile", metavar="SCENARIO", help="profile one client on a scenario")
    p.add_argument("--out", type=Path, default=RESULTS, help="output directory")
    p.add_argument("--nginx", help="nginx binary (default: $BENCH_NGINX or PATH)")
    p.add_argument("--seed", type=int, default=None, help="seed of the shuffled order")
    args = p.parse_args(argv)
    args.mode = args.mode or "quick"
    return args


def pick(names: str | None, known: dict[str, Any], default: list[str], what: str) -> list[str]:
    if not names:
        return default
    out = [n.strip() for n in names.split(",") if n.strip()]
    bad = [n for n in out if n not in known]
    if bad:
        raise SystemExit(f"unknown {what}: {', '.join(bad)} (known: {', '.join(known)})")
    return out


def child_env() -> dict[str, str]:
    """The clients import benchmarks/ and crt_http from this checkout."""
    path = [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path), PYTHONDONTWRITEBYTECODE="1")


def run_client(spec: ClientSpec, job: dict[str, Any], timeout: float,
               extra: tuple[str, ...] = ()) -> tuple[dict[str, Any] | None, str | None]:
    """Run one client process; (result, None) or (partial result or None, failure reason)."""
    cmd = [sys.executable, "-m", spec.module, "--job", json.dumps(job), *spec.args, *extra]
    try:
        proc = subprocess.run(cmd, cwd=str(REPO), env=child_env(), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        res = _result_line(out)
        return res, f"timeout: killed after {timeout:.0f} s"
    res = _result_line(proc.stdout)
    if res is None:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        return None, f"no result (exit status {proc.returncode}): {' | '.join(tail)}"
    if not res.get("ok"):
        return res, res.get("error") or f"failed (exit status {proc.returncode})"
    return res, None


def _result_line(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            try:
                return dict(json.loads(line[len(RESULT_PREFIX):]))
            except ValueError:
                return None
    return None


def skip_reason(scn: str, srv: Servers) -> str | None:
    s = SCENARIOS[scn]
    if s.needs_nginx and srv.nginx_skip:
        return srv.nginx_skip
    if s.op in ("put", "mem") and srv.sink_skip:
        return srv.sink_skip
    return None


def describe_run(r: dict[str, Any]) -> str:
    if r["status"] != report.OK:
        return f"{r['status'].upper()}: {r.get('reason', '')}"[:150]
    m, unit = r["metrics"], SCENARIOS[r["scenario"]].unit
    return (f"{m['rate']:,.0f} {'req/s' if unit == 'req' else 'MB/s'}, "
            f"cpu {m['cpu_per']:.1f} {'µs/req' if unit == 'req' else 'ms/MB'}")


def run_all(args: argparse.Namespace, scenarios: list[str], clients: list[str],
            srv: Servers) -> list[dict[str, Any]]:
    """Every repetition: every scenario, clients in a fresh shuffled order."""
    reps = args.repetitions or REPETITIONS[args.mode]
    rng = random.Random(args.seed)
    runs: list[dict[str, Any]] = []
    for scn in scenarios:  # what can't run is recorded once, not per repetition
        why = skip_reason(scn, srv)
        for cl in clients:
            na = CLIENTS[cl].na.get(scn)
            if na or why:
                runs.append({"scenario": scn, "client": cl, "rep": 0,
                             "status": report.NA if na else report.SKIP, "reason": na or why})
    todo = {(r["scenario"], r["client"]) for r in runs}
    total = reps * sum(1 for s in scenarios for c in clients if (s, c) not in todo)
    n = 0
    for rep in range(1, reps + 1):
        for scn in scenarios:
            order = [c for c in clients if (scn, c) not in todo]
            rng.shuffle(order)
            job = make_job(SCENARIOS[scn], args.mode, srv.endpoints)
            for cl in order:
                n += 1
                t0 = time.monotonic()
                res, why = run_client(CLIENTS[cl], job, HARD_TIMEOUT_S[args.mode])
                run: dict[str, Any] = {
                    "scenario": scn, "client": cl, "rep": rep,
                    "status": report.FAIL if why else report.OK, "result": res or {},
                    "elapsed_s": round(time.monotonic() - t0, 3)}
                if why:
                    run["reason"] = why
                else:
                    run["metrics"] = report.metrics(SCENARIOS[scn].unit, res or {})
                runs.append(run)
                print(f"[{n}/{total}] rep {rep} {scn} {cl}: {describe_run(run)}",
                      file=sys.stderr, flush=True)
    return runs


def write_outputs(args: argparse.Namespace, scenarios: list[str], clients: list[str],
                  runs: list[dict[str, Any]], mach: dict[str, Any], started: float) -> Path:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    cells = report.summarize(runs, clients, scenarios)
    reps = args.repetitions or REPETITIONS[args.mode]
    cmd = "python -m benchmarks.run --" + args.mode + "".join(
        f" --{k} {v}" for k, v in (("scenarios", args.scenarios), ("clients", args.clients))
        if v)
    header = [f"# crt_http benchmarks ({args.mode}, {stamp})", "",
              f"Machine: {machine.one_line(mach)}", "",
              f"Command: `{cmd}`; {reps} repetition(s) per cell, each in a fresh process, "
              f"clients interleaved in shuffled order; took {time.time() - started:.0f} s; "
              f"load average {mach.get('loadavg', '?')} before, {machine.loadavg()} after."]
    png = out / "ratios.png"
    why_no_chart = report.chart(cells, clients, scenarios, png,
                                f"ratio to awscrt-sync ({args.mode}) — {mach['cpu']}, "
                                f"{mach['usable_cores']} cores")
    if why_no_chart:
        header += ["", f"No chart: {why_no_chart}."]
    md = report.markdown(cells, clients, scenarios, header)
    (out / "latest.md").write_text(md)
    data = {"mode": args.mode, "started": stamp, "machine": mach, "repetitions": reps,
            "scenarios": {s: vars(SCENARIOS[s]) for s in scenarios}, "clients": clients,
            "runs": runs,
            "summary": [vars(c) for c in cells.values()]}
    (out / f"runs-{stamp}.json").write_text(json.dumps(data, indent=1, default=str))
    print(md)
    print(f"wrote {out / 'latest.md'}, {out / f'runs-{stamp}.json'}"
          + ("" if why_no_chart else f", {png}"), file=sys.stderr)
    return out / "latest.md"


def profile(args: argparse.Namespace) -> int:
    """Run one client on one scenario under cProfile; print the top 30 twice."""
    scn = args.profile.strip().upper()
    if scn not in SCENARIOS:
        raise SystemExit(f"unknown scenario {scn!r} (known: {', '.join(SCENARIOS)})")
    client = pick(args.clients, CLIENTS, [PROFILE_DEFAULT], "client")[0]
    s = SCENARIOS[scn]
    with Servers(BIG_SIZE[args.mode], MEM_SIZE[args.mode], nginx=args.nginx,
                 want_nginx=s.needs_nginx, want_sink=s.op in ("put", "mem")) as srv:
        why = skip_reason(scn, srv)
        if why:
            print(f"{scn} skipped: {why}", file=sys.stderr)
            return 1
        job = make_job(s, args.mode, srv.endpoints)
        job["deadline_s"] = HARD_TIMEOUT_S[args.mode] / 2  # the full count, even when slowed
        with tempfile.TemporaryDirectory() as tmp:
            prof = Path(tmp) / "client.prof"
            res, why = run_client(CLIENTS[client], job, HARD_TIMEOUT_S[args.mode],
                                  ("--profile-out", str(prof)))
            if res:
                m = report.metrics(s.unit, res)
                print(f"{scn} {client} under cProfile ({args.mode}): {m['rate']:,.1f} "
                      f"{'req/s' if s.unit == 'req' else 'MB/s'}, {res.get('requests')} "
                      f"requests, wall {res.get('wall_s', 0):.2f} s")
            if why:
                print(f"{scn} {client} failed: {why}", file=sys.stderr)
            if not prof.exists():
                return 1
            for key in ("cumulative", "tottime"):
                print(f"\n=== top 30 by {key} ===")
                pstats.Stats(str(prof), stream=sys.stdout).sort_stats(key).print_stats(30)
    return 0 if why is None else 1


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through Servers.__exit__: servers stopped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    if args.profile:
        return profile(args)
    scenarios = pick(args.scenarios, SCENARIOS, list(SCENARIOS), "scenario")
    clients = pick(args.clients, CLIENTS, [c for c, s in CLIENTS.items() if s.default],
                   "client")
    started = time.time()
    mach = machine.describe(args.nginx)
    want_nginx = any(SCENARIOS[s].needs_nginx for s in scenarios)
    want_sink = any(SCENARIOS[s].op in ("put", "mem") for s in scenarios)
    with Servers(BIG_SIZE[args.mode], MEM_SIZE[args.mode], nginx=args.nginx,
                 want_nginx=want_nginx, want_sink=want_sink) as srv:
        if srv.nginx_skip:
            print(f"nginx: {srv.nginx_skip}", file=sys.stderr)
        runs = run_all(args, scenarios, clients, srv)
    write_outputs(args, scenarios, clients, runs, mach, started)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: servers stopped", file=sys.stderr)
        sys.exit(130)
