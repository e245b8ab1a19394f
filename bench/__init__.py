"""make bench: the real stack measured, one table (docs/benchmarks.md: the method, the latest run).

    stack        the stack under test (its own compose project) and the servers beside it
    startup      cold start, warm restart beside Docker's floor, the migration step, import time
    throughput   requests per second and latency per endpoint (wrk), connections used
    footprint    the image's size and each worker's memory
    report       the table
    rollout      a rolling deploy on a single-node swarm (run on the host)
    inside/      programs run inside the web container (built into the bench's image)

`python -m bench` runs in the bench's container (bench/Dockerfile) with the Docker socket
and the repository mounted. BENCH_SHORT=1: one short round, to keep it working (CI).
"""

import os

SHORT = os.environ.get("BENCH_SHORT") == "1"
