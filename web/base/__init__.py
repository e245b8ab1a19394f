"""The base layer: settings, paths, revisions and log lines, from the standard library only.

Everything may import it; it imports nothing of the project's above it. The start-up step
and the healthcheck run on every container start and import only this (a contract in
pyproject.toml, checked by `make lint`).
"""
