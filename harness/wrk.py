"""The figures of a wrk run (standard library, Python 3.11+)."""

import re


def wrk_summary(output: str) -> dict[str, float | int | str]:
    """Requests/s, p50 and p99 in ms, requests, non-2xx responses and socket errors
    (wrk's line, "" when none) from the output of `wrk --latency`."""

    def latency(percentile: str) -> float:
        pattern = rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$"
        value, unit = re.search(pattern, output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50": latency("50%"),
        "p99": latency("99%"),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors.group(1).strip() if socket_errors else "",
    }
