"""`scripts/demo_zero_touch.py` (make demo-zero-touch) runs end to end: its own checks fail it otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.reconciler.helpers import ROOT


def test_the_zero_touch_demo_runs() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REMEDIATION_", "AZURE_", "ARM_", "IDENTITY_"))}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo_zero_touch.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr + proc.stdout[-2000:]
    assert "refused: ExistingRouteTableNotAssociatedWithSubnet" in proc.stdout
    assert "+ route rmd-default: 0.0.0.0/0 -> VirtualAppliance 10.0.1.4" in proc.stdout
    assert "+ rule aks-zero: Http:80,Https:443 10.1.16.0/24 -> fqdnTags AzureKubernetesService" in proc.stdout
