"""The benchmark's table, in Markdown: one row per figure, section by section.

Each figure is the median of its rounds; a ratio or difference between two figures measured
in the same rounds is the median of its per-round values.
"""

import operator
import os
from collections.abc import Callable
from statistics import median

Row = tuple[str, str, str, str]  # figure, measured, target, met
# The imports shown by package: this many, the costliest first.
TOP_PACKAGES = 8


def check(ok: bool) -> str:
    return "yes" if ok else "NO"


def print_rows(rows: list[Row], header: Row = ("figure", "measured", "target", "met")) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    print(line.format(*header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line.format(*row))


def per_round(a: list[float], b: list[float], how: Callable[[float, float], float]) -> float:
    """Median of how(a_i, b_i): each pair was measured back to back."""
    return median(how(x, y) for x, y in zip(a, b, strict=True))


def migration_rows(steps: dict[str, list[float]]) -> list[Row]:
    ours, alembic, flask_migrate = (median(steps[k]) for k in ("step", "alembic", "flask_migrate"))
    slower = flask_migrate / ours
    return [
        ("migration step, warm (at head)", f"{ours:.3f} s", "<= 0.3 s", check(ours <= 0.3)),
        (
            "  vs `flask db upgrade` (Flask-Migrate 4.1)",
            f"{flask_migrate:.3f} s = {slower:.1f}x slower",
            ">= 3x",
            check(slower >= 3),
        ),
        ("  vs plain `alembic upgrade head`", f"{alembic:.3f} s", "", ""),
    ]


def restart_rows(restarts: dict[str, list[float]], imports: dict) -> list[Row]:
    web, floor = median(restarts["web"]), median(restarts["floor"])
    above = per_round(restarts["web"], restarts["floor"], operator.sub)

    def cost(case: str) -> str:
        seconds, imported = median(imports[case]["seconds"]), median(imports[case]["import_us"])
        return f"{seconds:.2f} s, of which imports {imported / 1e6:.2f} s"

    return [
        ("warm restart to ready", f"{web:.2f} s", "<= 1.5 s", check(web <= 1.5)),
        ("  Docker's own restart of a bare Python HTTP server, same rounds", f"{floor:.2f} s", "report", ""),
        ("  restart minus that floor", f"{above:.2f} s", "<= 0.7 s", check(above <= 0.7)),
        ("  the start-up step alone, at head (`python -m web.container.startup`)", cost("boot"), "report", ""),
        ("  gunicorn's master to the forks (gunicorn, its config, the app)", cost("app"), "report", ""),
        ("  a bare `python -c pass`", f"{median(imports['bare']['seconds']):.3f} s", "report", ""),
    ]  # fmt: skip


def cold_rows(colds: list[tuple[float, float]]) -> list[Row]:
    db, ready = median(c[0] for c in colds), median(c[1] for c in colds)
    text = f"{ready:.1f} s (database healthy after {db:.1f} s)"
    return [("cold start to ready (fresh volume)", text, "report", "")]


def throughput_rows(load: dict[str, list[dict]]) -> list[Row]:
    rps = {name: median(r["rps"] for r in runs) for name, runs in load.items()}
    p50 = {name: median(r["p50"] for r in runs) for name, runs in load.items()}
    p99 = {name: median(r["p99"] for r in runs) for name, runs in load.items()}

    def ratio(name: str, base: str) -> float:
        rps_of = [[r["rps"] for r in load[n]] for n in (name, base)]
        return per_round(*rps_of, operator.truediv)

    def of_ceiling(name: str) -> str:
        return f"{rps[name]:.0f} = {ratio(name, 'healthz'):.2f} of ceiling"

    # The read path's own cost, straight to PostgreSQL; through PgBouncer (compose's
    # default) beside it.
    direct, speedup = ratio("direct_read", "healthz"), ratio("read", "default_read")
    instrumented, proxied = 1 - ratio("read", "plain_read"), ratio("proxy_read", "read")
    return [
        ("/healthz (no database), req/s", f"{rps['healthz']:.0f}", "ceiling", ""),
        ("read one record (web/app/reads.py), straight to PostgreSQL, req/s", of_ceiling("direct_read"), ">= 0.52", check(direct >= 0.52)),
        ("  same read through PgBouncer (compose's default), req/s", of_ceiling("read"), "report", ""),
        ("  same read through the ORM session, req/s", of_ceiling("read_session"), "report", ""),
        ("  same read, `gunicorn web.container.wsgi:app` defaults", f"{rps['default_read']:.0f} -> ours is {speedup:.2f}x", ">= 2x", check(speedup >= 2)),
        ("  same read, metrics and JSON logs off, req/s", f"{rps['plain_read']:.0f} -> on (ours) costs {instrumented:.1%}", "<= 10%", check(instrumented <= 0.10)),
        ("  same read through Caddy over HTTPS, req/s", f"{rps['proxy_read']:.0f} = {proxied:.2f} of direct", "report", ""),
        ("list 20, req/s (p50 / p99)", f"{rps['list']:.0f} ({p50['list']:.1f} / {p99['list']:.1f} ms)", "report", ""),
        ("create, req/s (p50 / p99)", f"{rps['create']:.0f} ({p50['create']:.1f} / {p99['create']:.1f} ms)", "report", ""),
        ("read, p50 / p99", f"{p50['read']:.1f} / {p99['read']:.1f} ms", "report", ""),
        *pgbouncer_rows(load, rps, p99),
        errors_row(load),
    ]  # fmt: skip


def pgbouncer_rows(load: dict, rps: dict, p99: dict) -> list[Row]:
    """Read and create through PgBouncer and straight to PostgreSQL: req/s, p99 and the
    most server connections seen during the load (PgBouncer's, or web's over TCP)."""
    rows = []
    for kind in ("read", "create"):
        for label, name, way in (
            ("through PgBouncer", kind, "peak_pgbouncer"),
            ("straight to PostgreSQL", f"direct_{kind}", "peak_direct"),
        ):
            peak = max(r[way] for r in load[name])
            text = f"{rps[name]:.0f}, {p99[name]:.1f} ms, {peak}"
            rows.append(
                (f"{kind}, {label}: req/s, p99, peak server connections", text, "report", "")
            )
    return rows


def errors_row(load: dict[str, list[dict]]) -> Row:
    errors = {name: sum(r["non_2xx"] for r in runs) for name, runs in load.items()}
    total = sum(errors.values())
    text = " ".join([str(total), *(f"{n}: {e}" for n, e in errors.items() if e)])
    return ("non-2xx responses under load", text, "0", check(total == 0))


def footprint_rows(memory: list[tuple[int, int]], growth: float) -> list[Row]:
    rss, pss = max(m[0] for m in memory), max(m[1] for m in memory)
    return [
        ("image: web minus base", f"{growth:.1f} MB", "<= 60 MB", check(growth <= 60)),
        (
            "memory per worker after load, RSS (PSS)",
            f"{rss} MB ({pss} MB), {len(memory)} workers",
            "<= 80 MB",
            check(rss <= 80),
        ),
    ]


def import_rows(imports: dict) -> list[tuple[str, str, str]]:
    """The costliest packages to import, in ms: the boot path's and the app's."""
    boot, app = imports["boot"]["packages"], imports["app"]["packages"]
    top = sorted(set(app) | set(boot), key=lambda p: -max(app.get(p, 0), boot.get(p, 0)))
    return [
        (package, f"{boot.get(package, 0) / 1000:.0f}", f"{app.get(package, 0) / 1000:.0f}")
        for package in top[:TOP_PACKAGES]
    ]


def print_report(tables: dict) -> None:
    rows = [
        *migration_rows(tables["steps"]),
        *restart_rows(tables["restarts"], tables["imports"]),
        *cold_rows(tables["colds"]),
        *throughput_rows(tables["load"]),
        *footprint_rows(tables["memory"], tables["growth"]),
    ]
    print_rows(rows)
    print()
    print_rows(
        import_rows(tables["imports"]), ("imports by package, median", "boot path, ms", "app, ms")
    )
    rounds = len(next(iter(tables["load"].values())))
    print(
        f"\n{rounds} round(s) of `wrk {tables['wrk']}` per endpoint, interleaved; medians"
        f" (ratios: median of per-round ratios). {os.cpu_count()} CPUs, load generator included."
    )


def rollout_rows(runs: list[dict], goal: float) -> list[Row]:
    """Rolling deploys on swarm (bench/rollout.py): their time, failures and outcome."""
    seconds = median(run["seconds"] for run in runs)
    failed = sum(len(run["failures"]) for run in runs)
    each = ", ".join(f"{run['seconds']:.1f}" for run in runs)
    completed = sum(run["state"] == "completed" for run in runs)
    served = sum(run["reads"] + run["writes"] for run in runs)
    return [
        (
            f"rolling deploy on swarm, 3 replicas (median of {len(runs)})",
            f"{seconds:.1f} s ({each})",
            f"<= {goal:g} s",
            check(seconds <= goal),
        ),
        ("  failed requests during it", f"{failed} of {served}", "0", check(failed == 0)),
        (
            "  updates completed (not rolled back)",
            f"{completed} of {len(runs)}",
            str(len(runs)),
            check(completed == len(runs)),
        ),
    ]
