"""The benchmark's table, in Markdown: one row per figure (bench/run.py, bench/rollout.py)."""

Row = tuple[str, str, str, str]  # figure, measured, target, met


def check(ok: bool) -> str:
    return "yes" if ok else "NO"


def print_rows(rows: list[Row]) -> None:
    header = ("figure", "measured", "target", "met")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    line = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    print(line.format(*header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line.format(*row))
