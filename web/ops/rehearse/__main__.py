import sys

from web.ops.rehearse.cli import main

sys.exit(main(sys.argv[1:]))
