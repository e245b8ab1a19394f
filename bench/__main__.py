"""`python -m bench`: build, measure, tear down, print the table (bench/__init__.py)."""

from bench import footprint, report, stack, startup, throughput


def measure() -> dict:
    stack.build_images()
    stack.log(f"cold starts x{startup.COLD_STARTS}")
    colds = [startup.cold_start() for _ in range(startup.COLD_STARTS)]
    stack.log(f"migration step x{startup.MIGRATE_RUNS}, interleaved with Alembic and Flask-Migrate")
    steps = startup.migrate_step()
    stack.log(f"warm restarts x{startup.RESTARTS}, each beside Docker's restart of a bare server")
    restarts = startup.restarts_beside_the_floor()
    stack.log(f"import time x{startup.IMPORT_ROUNDS}: the start-up step, gunicorn's preload")
    imports = startup.import_times()
    stack.log(
        f"throughput: {throughput.ROUNDS} round(s) of {throughput.WRK_SECONDS} s per endpoint"
    )
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
        tables = measure()
    finally:
        stack.tear_down()
    report.print_report(tables)


if __name__ == "__main__":
    main()
