"""The API: one module (or package) per resource, each with a blueprint named `bp`.

create_app() registers every blueprint it finds here, so adding a resource is
adding a module: nothing else to register. See docs/development.md, "Add a resource".
"""

import importlib
import pkgutil

from flask import Blueprint


def blueprints() -> list[Blueprint]:
    """The `bp` of every module and package in this folder, in name order."""
    found = []
    for module in pkgutil.iter_modules(__path__, f"{__name__}."):
        bp = getattr(importlib.import_module(module.name), "bp", None)
        if isinstance(bp, Blueprint):
            found.append(bp)
    return found
