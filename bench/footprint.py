"""Footprint: the web image's size over its base, and each worker's memory after the load."""

from bench.stack import BASE_IMAGE, compose
from harness.compose import image
from harness.swarm import sh


def worker_memory() -> list[tuple[int, int]]:
    """(RSS, PSS) in MB of each of web's gunicorn workers (bench/inside/memory.py)."""
    out = compose("exec", "-T", "web", "python", "-m", "bench.inside.memory")
    return [(rss, pss) for rss, pss in (map(int, line.split()) for line in out.splitlines())]


def image_growth_mb() -> float:
    """The web image (as built, without the bench's additions) minus its base image."""

    def size(name: str) -> int:
        return int(sh("docker", "image", "inspect", "-f", "{{.Size}}", name))

    return (size(image("web")) - size(BASE_IMAGE)) / 1e6
