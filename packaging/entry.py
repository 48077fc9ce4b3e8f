"""Entry script of the PyInstaller bundle: the same `commandcenter` command as
the venv's console script (ui.app.cli:main), engine commands and `wall`/`demo`."""

import sys

from ui.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
