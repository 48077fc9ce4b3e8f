"""Child of tests/ui/test_wall_setup.py: the real `commandcenter wall` (one
process, no supervisor) with WallController.build made to fail."""

from __future__ import annotations

import sys
import threading


def main() -> int:
    from ui.app import wall as wall_app
    from ui.app.cli import main as cli_main

    def broken_build(self: object) -> None:
        raise RuntimeError("map view cannot be built")

    wall_app.WallController.build = broken_build  # type: ignore[method-assign]
    try:
        cli_main(sys.argv[1:])
    except RuntimeError as exc:
        sys.stdout.write(f"RAISED {exc}\n")
    left = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    sys.stdout.write(f"THREADS LEFT {left}\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
