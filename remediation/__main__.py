"""`python -m remediation ...` and the `aks-remediation` console script: see remediation/cli/main.py."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from remediation import __version__


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["--version"], ["-V"]):
        # Answered before the CLI (and the Azure SDK behind it) is imported: a quick check of the install.
        print(f"aks-egress-remediation {__version__}")
        return 0
    from remediation.cli.main import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
