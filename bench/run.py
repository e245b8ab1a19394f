"""make bench: measure the real stack and print one table.

Runs inside the bench container (bench/Dockerfile) with the host's Docker
socket and the repository mounted at /repo. The stack under test is its own
compose project, `fabench`, with no host port: this driver joins its network
and wrk runs in a container on it, so no proxy sits between load and server.
Figures that are compared are measured in the same rounds, interleaved, and
each figure is the median of its rounds. BENCH_SHORT=1 runs one short round
(CI uses it to keep the benchmark working, not to judge it).
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, "/repo")  # the repository, mounted: its shared test helpers
from bench.table import check, print_rows
from harness import waiting
from harness.revisions import PROBE_MODULE, write_probe_revision
from harness.waiting import wait_until
from web.base.revisions import code_revisions

SHORT = os.environ.get("BENCH_SHORT") == "1"
ROUNDS = 1 if SHORT else 5
WRK_SECONDS = 2 if SHORT else 10
COLD_STARTS = 1 if SHORT else 3
RESTARTS = 2 if SHORT else 7
MIGRATE_RUNS = 3 if SHORT else 9

PROJECT = "fabench"
NETWORK = f"{PROJECT}_default"
DRIVER = os.environ.get("BENCH_CONTAINER", "fabench-driver")
BENCH_IMAGE = os.environ.get("BENCH_IMAGE", "flask-alembic-bench")
WEB_IMAGE = f"{PROJECT}-web:latest"
# The web image plus the suites' own resource (harness/probe_resource.py) and its table,
# so that the figures do not depend on the sample, or on whether it is still there.
PROBE_IMAGE = f"{PROJECT}-web-probe:latest"
BASE_IMAGE = os.environ.get("PYTHON_IMAGE") or "python:3.13-slim"
WEB = "http://web:8000"
DEFAULT_SERVER = f"{PROJECT}-default-gunicorn"
# The same image and settings with metrics off and text logs: what instrumentation costs.
PLAIN_SERVER = f"{PROJECT}-plain-gunicorn"
# Caddy with deploy/Caddyfile in front of web, over HTTPS. Its site address ends in
# .localhost, so Caddy serves it with its local CA and never asks Let's Encrypt (a name
# without that would make it try); wrk does not verify. The same name is its DNS alias.
PROXY = f"{PROJECT}-proxy"
PROXY_SITE = f"{PROXY}.localhost"
PROXY_IMAGE = f"{PROJECT}-proxy:latest"
CADDY_IMAGE = os.environ.get("CADDY_IMAGE") or "caddy:2"
# The same image and settings, with requests straight to PostgreSQL instead of PgBouncer.
DIRECT_SERVER = f"{PROJECT}-direct"
# The floor under a warm restart: Docker restarting a bare Python HTTP server on the same
# network, killed at once (SIGKILL), in the same rounds as web's restarts.
FLOOR = f"{PROJECT}-floor"
FLOOR_URL = f"http://{FLOOR}:8000/"
# Started beside the stack with `docker run`; removed at the end.
SIDE_CONTAINERS = (DEFAULT_SERVER, PLAIN_SERVER, DIRECT_SERVER, PROXY, FLOOR)
COMPOSE = [
    "docker",
    "compose",
    "-p",
    PROJECT,
    "-f",
    "docker-compose.yml",
    "-f",
    "e2e/compose.unpublished.yml",
    "-f",
    "bench/compose.probe.yml",
]

# Times a command N times inside a container: python - N cmd... (argv), prints JSON seconds.
TIMER = """
import json, subprocess, sys, time
runs, commands = int(sys.argv[1]), [c.split() for c in sys.argv[2:]]
times = {" ".join(c): [] for c in commands}
for _ in range(runs):
    for command in commands:  # interleaved, so that noise hits every command alike
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times[" ".join(command)].append(time.perf_counter() - start)
print(json.dumps(times))
"""

# Installs Flask-Migrate in a throwaway container, points it at a copy of the same
# migrations, then hands over to TIMER.
FLASK_MIGRATE = """
import os, shutil, subprocess, sys
# The base image's pip (the venv has none), into a folder of its own.
subprocess.run(["/usr/bin/env", "PATH=/usr/local/bin:/usr/bin:/bin", "python3", "-m", "pip", "install",
                "-q", "--no-deps", "--target", "/tmp/fm", "flask-migrate==4.1.0"], check=True)
shutil.copytree("/app/migrations", "/tmp/fm_migrations")
shutil.copy("/app/alembic.ini", "/tmp/fm_migrations/alembic.ini")
open("/tmp/fm_app.py", "w").write(
    "from flask_migrate import Migrate\\nfrom web.app import create_app\\nfrom web.app.db import db\\n"
    "app = create_app()\\nMigrate(app, db, directory='/tmp/fm_migrations')\\n")
os.environ["PYTHONPATH"] = "/tmp/fm:/tmp:/app"
"""

MEMORY = """
import os
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        status = open(f"/proc/{pid}/status").read()
        cmd = open(f"/proc/{pid}/cmdline").read()
        pss = [l for l in open(f"/proc/{pid}/smaps_rollup") if l.startswith("Pss:")]
    except OSError:
        continue
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "gunicorn" in cmd and fields["PPid"].strip() == "1":
        print(int(fields["VmRSS"].split()[0]) // 1024, int(pss[0].split()[1]) // 1024)
"""


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run(*command: str, check: bool = True, stdin: str | None = None, timeout: float = 600) -> str:
    result = subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise SystemExit(f"bench: {' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def compose(*args: str, **kwargs) -> str:
    return run(*COMPOSE, *args, **kwargs)


def attach() -> None:
    run("docker", "network", "connect", NETWORK, DRIVER, check=False)


def detach() -> None:
    run("docker", "network", "disconnect", "-f", NETWORK, DRIVER, check=False)


def wait_ready(url: str = f"{WEB}/readyz", timeout: float = 120) -> float:
    return waiting.wait_ready(url, timeout, interval=0.01)


def build_probe_image() -> None:
    """PROBE_IMAGE: the web image (built by compose if missing) with the probe resource."""
    run(*COMPOSE[:4], "build", "web")  # the plain compose file: it builds WEB_IMAGE
    head = (code_revisions()[1] or (None,))[0]
    with tempfile.TemporaryDirectory() as folder:
        context = Path(folder)
        (context / "probe.py").write_text(PROBE_MODULE.read_text())
        revision = write_probe_revision(context, head)
        (context / "Dockerfile").write_text(
            f"FROM {WEB_IMAGE}\n"
            "COPY probe.py /app/web/api/probe.py\n"
            f"COPY {revision.name} /app/migrations/versions/\n"
        )
        run("docker", "build", "-q", "-t", PROBE_IMAGE, str(context))


def post(path: str, body: dict) -> None:
    request = urllib.request.Request(  # noqa: S310
        f"{WEB}{path}", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310


def cold_start() -> tuple[float, float]:
    """(seconds until the database is healthy, seconds until /readyz is 200), from a fresh volume."""
    detach()
    compose("down", "-v", "--remove-orphans")
    start = time.monotonic()
    compose("up", "-d")  # returns once db is healthy and web has started
    db_ready = time.monotonic() - start
    attach()
    wait_ready()
    return db_ready, time.monotonic() - start


def warm_restart() -> float:
    start = time.monotonic()
    compose("restart", "web")
    wait_ready()
    return time.monotonic() - start


def floor_restart() -> float:
    """Seconds for Docker to restart FLOOR until it answers: what no app can go under."""
    start = time.monotonic()
    run("docker", "restart", FLOOR)
    wait_ready(FLOOR_URL, timeout=30)
    return time.monotonic() - start


def restarts_beside_the_floor() -> tuple[list[float], list[float]]:
    """RESTARTS warm restarts of web, each followed by one of FLOOR."""
    options = ["--name", FLOOR, "--network", NETWORK, "--stop-signal", "SIGKILL"]
    run("docker", "run", "-d", *options, BASE_IMAGE, "python", "-m", "http.server", "8000")
    wait_ready(FLOOR_URL, timeout=30)
    webs, floors = [], []
    for _ in range(RESTARTS):
        webs.append(warm_restart())
        floors.append(floor_restart())
    return webs, floors


def migrate_step() -> dict[str, list[float]]:
    """Warm start (database at head): the entrypoint's step vs plain Alembic vs Flask-Migrate."""
    commands = [
        "python -m web.container.startup",
        "alembic upgrade head",
        "flask --app fm_app db upgrade",
    ]
    script = f"{FLASK_MIGRATE}\nsys.argv = ['timer', '{MIGRATE_RUNS}', *{commands!r}]\n{TIMER}"
    out = compose(
        "run",
        "--rm",
        "--no-deps",
        "-T",
        "--user",
        "0",
        "--entrypoint",
        "python",
        "web",
        "-",
        stdin=script,
    )
    return json.loads(out.strip().splitlines()[-1])


def wrk(url: str, *, script: str | None = None, tag: str = "") -> dict[str, float]:
    args = ["-t2", "-c16", f"-d{WRK_SECONDS}s", "--latency", "--timeout", "5s"]
    if script:
        args += ["-s", script]
    out = run_wrk(*args, url, *(["--", tag] if tag else []))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _latency(out, "50%"),
        "p99": _latency(out, "99%"),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def _latency(out: str, percentile: str) -> float:
    value, unit = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def start_server(name: str, *command: str, **env: str) -> None:
    """A one-off web container named `name` on the stack's network, serving on port 8000."""
    run("docker", "rm", "-f", name, check=False)
    flags = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    compose("run", "-d", "--no-deps", "--name", name, *flags, "web", *command)
    wait_ready(f"http://{name}:8000/readyz")


def start_default_server() -> None:
    """The same image under `gunicorn web.container.wsgi:app` with gunicorn's defaults (1 sync worker)."""
    # gunicorn's defaults spelled out, so that a WEB_CONCURRENCY in the environment (which
    # gunicorn reads) cannot change them; only the bind address differs, to be reachable.
    start_server(
        DEFAULT_SERVER,
        "gunicorn",
        "--workers",
        "1",
        "--worker-class",
        "sync",
        "--bind",
        "0.0.0.0:8000",
        "web.container.wsgi:app",
    )


def start_proxy() -> None:
    """Caddy with the repository's Caddyfile (copied into an image: a bind mount would name
    a path inside this driver container), proxying to web."""
    with tempfile.TemporaryDirectory() as folder:
        context = Path(folder)
        (context / "Caddyfile").write_text(Path("deploy/Caddyfile").read_text())
        (context / "Dockerfile").write_text(
            f"FROM {CADDY_IMAGE}\nCOPY Caddyfile /etc/caddy/Caddyfile\n"
        )
        run("docker", "build", "-q", "-t", PROXY_IMAGE, str(context))
    run("docker", "rm", "-f", PROXY, check=False)
    buffering = run("sh", "deploy/caddy_request_buffering.sh", CADDY_IMAGE).strip()
    run(
        "docker", "run", "-d", "--name", PROXY, "--network", NETWORK,
        "--network-alias", PROXY_SITE, "-e", f"SITE_ADDRESS={PROXY_SITE}",
        *(["-e", f"CADDY_REQUEST_BUFFERING={buffering}"] if buffering else []), PROXY_IMAGE,
    )  # fmt: skip
    # Ready once wrk completes requests over https (the certificate is made in the background).
    served = re.compile(r"^\s+[1-9]\d* requests in", re.M)
    wait_until(lambda: served.search(wrk_once(f"https://{PROXY_SITE}/healthz")), "Caddy", 60, 1)


def wrk_once(url: str) -> str:
    return run_wrk("-t1", "-c1", "-d1s", url, check=False)


def run_wrk(*args: str, check: bool = True) -> str:
    """wrk's output, run in a container on the stack's network (no proxy in between)."""
    return run(
        "docker", "run", "--rm", "--network", NETWORK, "--entrypoint", "wrk", BENCH_IMAGE,
        *args, check=check,
    )  # fmt: skip


# Counts PostgreSQL's client connections every 0.5 s on one psql session (\watch), so
# that sampling costs next to nothing beside the load it watches: those on its socket
# (PgBouncer's, not counting this session) and those over TCP (web straight to PostgreSQL).
# The sampling session is named bench-watch (its application_name), and not counted.
WATCH_CONNECTIONS = (
    "SELECT count(*) FILTER (WHERE client_addr IS NULL), "
    "count(*) FILTER (WHERE client_addr IS NOT NULL) "
    "FROM pg_stat_activity WHERE backend_type = 'client backend' "
    "AND application_name <> 'bench-watch'\n\\watch 0.5\n"
)
END_WATCH = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bench-watch'"
)


def with_peak_connections(measure: Callable[[], dict]) -> dict:
    """measure()'s figures, and the most server connections seen while it ran, by way in."""
    db = compose("ps", "-q", "db").strip()
    watch = subprocess.Popen(
        [
            "docker",
            "exec",
            "-i",
            "-e",
            "PGAPPNAME=bench-watch",
            db,
            "psql",
            "-U",
            "postgres",
            "-d",
            "app",
            "-tAq",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    watch.stdin.write(WATCH_CONNECTIONS)
    watch.stdin.flush()
    try:
        figures = measure()
    finally:
        # Ending `docker exec` would leave psql running in the container: end its session.
        compose("exec", "-T", "db", "psql", "-U", "postgres", "-tAqc", END_WATCH)
        out = watch.communicate(timeout=30)[0]
    samples = [tuple(map(int, line.split("|"))) for line in out.split() if "|" in line]
    return {
        **figures,
        "peak_pgbouncer": max((socket for socket, _ in samples), default=0),
        "peak_direct": max((tcp for _, tcp in samples), default=0),
    }


def throughput() -> dict[str, list[dict[str, float]]]:
    for i in range(100):
        post("/api/probe/items", {"name": f"seed {i:03}"})
    start_default_server()
    start_server(PLAIN_SERVER, METRICS_PORT="0", LOG_FORMAT="text")
    start_proxy()
    # web as compose runs it, but with requests straight to PostgreSQL instead of PgBouncer.
    start_server(DIRECT_SERVER, DATABASE_URL="postgresql://app_runtime@db:5432/app")
    targets = {
        "healthz": (f"{WEB}/healthz", None),
        "read": (f"{WEB}/api/probe/items/42", None),
        "read_session": (f"{WEB}/api/probe/items/42/via-session", None),
        "list": (f"{WEB}/api/probe/items?limit=20", None),
        "create": (f"{WEB}/api/probe/items", "/bench/post.lua"),
        "default_read": (f"http://{DEFAULT_SERVER}:8000/api/probe/items/42", None),
        "plain_read": (f"http://{PLAIN_SERVER}:8000/api/probe/items/42", None),
        "proxy_read": (f"https://{PROXY_SITE}/api/probe/items/42", None),
        "direct_read": (f"http://{DIRECT_SERVER}:8000/api/probe/items/42", None),
        "direct_create": (f"http://{DIRECT_SERVER}:8000/api/probe/items", "/bench/post.lua"),
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for round_ in range(ROUNDS):
        for name, (url, script) in targets.items():
            tag = f"r{round_}-{time.time_ns()}"
            results[name].append(with_peak_connections(partial(wrk, url, script=script, tag=tag)))
        log(
            f"round {round_ + 1}/{ROUNDS}: "
            + ", ".join(f"{n} {r[-1]['rps']:.0f}/s" for n, r in results.items())
        )
    return results


def worker_memory() -> list[tuple[int, int]]:
    out = compose("exec", "-T", "web", "python", "-", stdin=MEMORY)
    return [tuple(map(int, line.split())) for line in out.split("\n") if line]


def image_growth_mb() -> float:
    size = lambda image: int(run("docker", "image", "inspect", "-f", "{{.Size}}", image))  # noqa: E731
    return (size(WEB_IMAGE) - size(BASE_IMAGE)) / 1e6


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    # The repository where the host has it too: compose's bind mounts (db/, the secret
    # files) name host paths.
    os.chdir(os.environ.get("BENCH_REPO", "/repo"))
    try:
        build_probe_image()
        log(f"cold starts x{COLD_STARTS}")
        colds = [cold_start() for _ in range(COLD_STARTS)]
        log(f"migration step x{MIGRATE_RUNS}, interleaved with plain Alembic and Flask-Migrate")
        steps = migrate_step()
        log(f"warm restarts x{RESTARTS}, each beside Docker's restart of a bare server")
        restarts = restarts_beside_the_floor()
        log(f"throughput: {ROUNDS} round(s) of {WRK_SECONDS}s per endpoint")
        load = throughput()
        memory = worker_memory()
        growth = image_growth_mb()
    finally:
        run("docker", "rm", "-f", *SIDE_CONTAINERS, check=False)
        detach()
        compose("down", "-v", "--remove-orphans", check=False)
    print_table(colds, steps, restarts, load, (memory, growth))


def pgbouncer_rows(rps: dict, lat: dict, peak: dict) -> list[tuple[str, str, str, str]]:
    """Read and create through PgBouncer (compose's default) and straight to PostgreSQL,
    side by side: req/s, p99 and the most server connections seen during the load."""
    rows = []
    for kind in ("read", "create"):
        for label, name in (
            ("through PgBouncer", kind),
            ("straight to PostgreSQL", f"direct_{kind}"),
        ):
            rows.append(
                (
                    f"{kind}, {label}: req/s, p99, peak server connections",
                    f"{rps[name]:.0f}, {lat[name][1]:.1f} ms, {peak[name]}",
                    "report",
                    "",
                )
            )
    return rows


def print_table(colds, steps, restarts, load, footprint) -> None:
    memory, growth = footprint
    restarts, floors = restarts  # web's, and Docker's own (the floor), in the same rounds
    ours, alembic, flask_migrate = (median(times) for times in steps.values())
    rps = {name: median([r["rps"] for r in runs]) for name, runs in load.items()}
    lat = {
        name: (median([r["p50"] for r in runs]), median([r["p99"] for r in runs]))
        for name, runs in load.items()
    }
    errors = {name: sum(r["errors"] for r in runs) for name, runs in load.items()}
    # Server connections by way in: PgBouncer's for the default rows, TCP for direct_*.
    peak = {
        name: max(
            r["peak_direct" if name.startswith("direct_") else "peak_pgbouncer"] for r in runs
        )
        for name, runs in load.items()
    }

    def ratio(name: str, base: str) -> float:
        """Median of the per-round ratios: each pair was measured back to back."""
        return median([a["rps"] / b["rps"] for a, b in zip(load[name], load[base], strict=True)])

    # The read path's own cost, against the 0.58 measured before PgBouncer: straight to
    # PostgreSQL, as then. Through PgBouncer (compose's default) is reported beside it.
    ceiling, pooled_ceiling = ratio("direct_read", "healthz"), ratio("read", "healthz")
    speedup = ratio("read", "default_read")
    session_ceiling = ratio("read_session", "healthz")
    # What metrics and JSON logs cost: the share of plain read throughput they take.
    instrumented, proxied = 1 - ratio("read", "plain_read"), ratio("proxy_read", "read")
    rss = [m[0] for m in memory]
    pss = [m[1] for m in memory]

    rows = [
        ("migration step, warm (at head)", f"{ours:.3f} s", "<= 0.3 s", check(ours <= 0.3)),
        (
            "  vs `flask db upgrade` (Flask-Migrate 4.1)",
            f"{flask_migrate:.3f} s = {flask_migrate / ours:.1f}x slower",
            ">= 3x",
            check(flask_migrate / ours >= 3),
        ),
        ("  vs plain `alembic upgrade head`", f"{alembic:.3f} s", "", ""),
        (
            "warm restart to ready",
            f"{median(restarts):.2f} s",
            "<= 1.5 s",
            check(median(restarts) <= 1.5),
        ),
        (
            "  Docker's own restart of a bare Python HTTP server, same rounds",
            f"{median(floors):.2f} s",
            "report",
            "",
        ),
        (
            "cold start to ready (fresh volume)",
            f"{median([c[1] for c in colds]):.1f} s "
            f"(database healthy after {median([c[0] for c in colds]):.1f} s)",
            "report",
            "",
        ),
        ("/healthz (no database), req/s", f"{rps['healthz']:.0f}", "ceiling", ""),
        (
            "read one record (web/app/reads.py), straight to PostgreSQL, req/s",
            f"{rps['direct_read']:.0f} = {ceiling:.2f} of ceiling",
            ">= 0.52",
            check(ceiling >= 0.52),
        ),
        (
            "  same read through PgBouncer (compose's default), req/s",
            f"{rps['read']:.0f} = {pooled_ceiling:.2f} of ceiling",
            "report",
            "",
        ),
        (
            "  same read through the ORM session, req/s",
            f"{rps['read_session']:.0f} = {session_ceiling:.2f} of ceiling",
            "report",
            "",
        ),
        (
            "  same read, `gunicorn web.container.wsgi:app` defaults",
            f"{rps['default_read']:.0f} -> ours is {speedup:.2f}x",
            ">= 2x",
            check(speedup >= 2),
        ),
        (
            "  same read, metrics and JSON logs off, req/s",
            f"{rps['plain_read']:.0f} -> on (ours) costs {instrumented:.1%}",
            "<= 10%",
            check(instrumented <= 0.10),
        ),
        (
            "  same read through Caddy over HTTPS, req/s",
            f"{rps['proxy_read']:.0f} = {proxied:.2f} of direct",
            "report",
            "",
        ),
        (
            "list 20, req/s (p50 / p99)",
            f"{rps['list']:.0f} ({lat['list'][0]:.1f} / {lat['list'][1]:.1f} ms)",
            "report",
            "",
        ),
        (
            "create, req/s (p50 / p99)",
            f"{rps['create']:.0f} ({lat['create'][0]:.1f} / {lat['create'][1]:.1f} ms)",
            "report",
            "",
        ),
        ("read, p50 / p99", f"{lat['read'][0]:.1f} / {lat['read'][1]:.1f} ms", "report", ""),
        *pgbouncer_rows(rps, lat, peak),
        (
            "non-2xx responses under load",
            " ".join([str(sum(errors.values())), *(f"{n}: {e}" for n, e in errors.items() if e)]),
            "0",
            check(sum(errors.values()) == 0),
        ),
        ("image: web minus base", f"{growth:.1f} MB", "<= 60 MB", check(growth <= 60)),
        (
            "memory per worker after load, RSS (PSS)",
            f"{max(rss)} MB ({max(pss)} MB), {len(rss)} workers",
            "<= 80 MB",
            check(max(rss) <= 80),
        ),
    ]
    print_rows(rows)
    print(
        f"\n{ROUNDS} round(s) of wrk -t2 -c16 -d{WRK_SECONDS}s per endpoint, interleaved; medians "
        f"(ratios: median of per-round ratios). {os.cpu_count()} CPUs, load generator included."
    )


if __name__ == "__main__":
    main()
