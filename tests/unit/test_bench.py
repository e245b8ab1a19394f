"""The benchmark's pure parts: reading `python -X importtime`, and the table."""

from bench import report
from bench.inside.importtime import by_package

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |   _io
import time:      1000 |       1500 |     sqlalchemy.util
import time:       500 |       2000 |   sqlalchemy
import time:       300 |        300 |   web.base.config
import time:        50 |         50 | json.decoder
{"level": "info", "message": "a log line in between"}
"""


def test_imports_add_up_by_top_level_package() -> None:
    assert by_package(IMPORTTIME) == {"stdlib": 150, "sqlalchemy": 1500, "web": 300}


def test_import_rows_show_the_costliest_packages_first() -> None:
    imports = {
        "boot": {"packages": {"stdlib": 60_000, "psycopg2": 20_000}},
        "app": {"packages": {"stdlib": 100_000, "sqlalchemy": 250_000}},
    }
    assert report.import_rows(imports) == [
        ("sqlalchemy", "0", "250"),
        ("stdlib", "60", "100"),
        ("psycopg2", "20", "0"),
    ]


def test_restart_minus_the_floor_is_the_median_of_each_rounds_difference() -> None:
    restarts = {"web": [1.5, 2.0, 1.6], "floor": [0.6, 1.2, 0.7]}
    imports = {
        name: {"seconds": [0.1, 0.2], "import_us": [50_000, 60_000]}
        for name in ("boot", "app", "bare")
    }
    rows = {row[0].strip(): row for row in report.restart_rows(restarts, imports)}
    assert rows["warm restart to ready"][1:] == ("1.60 s", "<= 1.5 s", "NO")
    assert rows["restart minus that floor"][1:] == ("0.90 s", "<= 0.7 s", "NO")
