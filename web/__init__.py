"""The web service, in layers; each imports only the ones below it (pyproject.toml's import
contracts, checked by `make lint`):

    web/ops/, web/container/           operator tools; start-up step, gunicorn, healthcheck
    web/app/, web/api/, web/models.py  the HTTP app, its resources, your models
    web/base/                          settings, paths, revisions, logs: standard library only

Empty on purpose: the start-up step imports web.base on every start, not Flask through here.
"""
