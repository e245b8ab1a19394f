"""`python -m bench`: build, measure, tear down, print the table (bench/__init__.py).
With BENCH_AGAINST (make bench against=<ref>): this tree side by side with that ref."""

from bench import footprint, report, sidebyside, stack, startup, throughput


def measure() -> dict:
    stack.log(f"cold starts x{startup.COLD_STARTS}")
    colds = [startup.cold_start() for _ in range(startup.COLD_STARTS)]
    stack.log(f"migration step x{startup.MIGRATE_RUNS}, interleaved with Alembic and Flask-Migrate")
    steps = startup.migrate_step()
    stack.log(f"warm restarts x{startup.RESTARTS}, each beside Docker's restart of a bare server")
    restarts = startup.restarts_beside_the_floor()
    stack.log(f"import time x{startup.IMPORT_ROUNDS}: the start-up step, gunicorn's preload")
    imports = startup.import_times()
    stack.log(f"throughput: {throughput.ROUNDS} round(s) of {throughput.WRK_SECONDS} s each")
    load = throughput.throughput()
    return {
        "colds": colds,
        "steps": steps,
        "restarts": restarts,
        "imports": imports,
        "load": load,
        "wrk": " ".join(throughput.WRK),
        "memory": footprint.worker_memory(),
        "growth": footprint.image_growth_mb(),
    }


def main() -> None:
    try:
        stack.build_images()
        figures = sidebyside.measure() if sidebyside.REF else measure()
    finally:
        stack.tear_down()
    if sidebyside.REF:
        sidebyside.print_report(figures)
    else:
        report.print_report(figures)


if __name__ == "__main__":
    main()
