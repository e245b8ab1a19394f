"""make remove-sample: delete the sample (projects and tasks) and leave an empty service.

The sample is web/api/sample/ (models, schemas, routes, tests) and the revisions that say
they are part of it. Your own revisions must not build on those: if one does, nothing is
deleted.
"""

import shutil
import sys

from web.base.paths import ROOT, VERSIONS_DIR
from web.base.revisions import read_revision

SAMPLE = ROOT / "web" / "api" / "sample"
MARKER = "make remove-sample` deletes this file"
NEXT = """\
Next: add your models to web/models.py, then `make revision msg="..."` and `make migrate`.
A database that the sample's revisions were applied to is now ahead of the code: start
from an empty one with `make down v=1` (it deletes the data)."""


def main() -> int:
    revisions = {path: read_revision(path) for path in sorted(VERSIONS_DIR.glob("*.py"))}
    sample = {path for path in revisions if MARKER in path.read_text(encoding="utf-8")}
    if not SAMPLE.exists() and not sample:
        print("remove-sample: the sample is already gone")
        return 0
    sample_ids = {revisions[path][0] for path in sample}
    dependants = [
        path.name
        for path, (_, parents) in revisions.items()
        if path not in sample and sample_ids & set(parents)
    ]
    if dependants:
        print(
            "error: these revisions build on the sample's; nothing was deleted:\n  "
            + "\n  ".join(dependants),
            file=sys.stderr,
        )
        return 1
    shutil.rmtree(SAMPLE, ignore_errors=True)
    for path in sample:
        path.unlink()
    print("remove-sample: deleted web/api/sample/ and the sample's revisions:")
    for path in sorted(sample):
        print(f"  {path.relative_to(ROOT)}")
    print(NEXT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
