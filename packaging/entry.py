"""Entry script of the PyInstaller bundle: the same `commandcenter` command as
the venv's console script (ui.cli:main), engine commands and `wall`/`demo`."""

import sys

from ui.cli import main

if __name__ == "__main__":
    sys.exit(main())
