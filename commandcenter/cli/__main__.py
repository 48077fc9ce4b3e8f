"""`python -m commandcenter.cli`: the Qt-free command line (servers, recording nodes)."""

import sys

from commandcenter.cli import main

sys.exit(main())
