"""`python -m remediation ...` and the `aks-remediation` console script: see remediation/cli/main.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from remediation import __version__


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["--version"], ["-V"]):
        # Answered before the CLI (and the Azure SDK behind it) is imported: a quick check of the install.
        print(f"aks-egress-remediation {__version__}")
        return 0
    try:
        from remediation.cli.main import main as cli_main

        code = cli_main(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # `aks-remediation plan ... | head -1`: the reader left; not an error worth a traceback. Python would
        # still fail flushing stdout at exit, so it is pointed at /dev/null first (docs.python.org, signal).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C)", file=sys.stderr)  # e.g. while the Azure SDK is imported
        return 130


if __name__ == "__main__":
    sys.exit(main())
