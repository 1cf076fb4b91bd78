"""`python -m remediation ...`: see remediation/cli.py."""

import sys

from remediation.cli import main

sys.exit(main())
