"""The base layer: settings, paths, revisions and log lines, standard library only.

Everything may import it. The start-up step and the healthcheck, run on every container
start, import nothing heavier (pyproject.toml's contracts).
"""
