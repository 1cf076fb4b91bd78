"""Property 3: crash safety. `python -m remediation apply` runs in a subprocess against this process's
emulator and is SIGKILLed while its Nth write is in flight (a before-hook holds that request and signals
the test). The held write then completes server-side, as ARM completes an accepted request whose client
died. A fresh run must converge to exactly the fault-free state, with no duplicates and nothing foreign lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest

from emulator import Emulator
from remediation.core.model import Target, TargetKind
from tests.evidence import support
from tests.evidence.support import Harness

CLUSTER = Target(TargetKind.CLUSTER, support.CLUSTER_CNI)
WRITES = r"/providers/Microsoft\.Network/"
TOTAL_WRITES = 7  # a fault-free apply of aks-cni from the seed (checked below)

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")


def _child_env(emu: Emulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME"}}
    env.update(emu.env())
    env.update(support.settings_env(emu))
    env["PYTHONPATH"] = str(support.ROOT)
    return env


def _apply_cmd() -> list[str]:
    return [sys.executable, "-m", "remediation", "apply", "--target", support.CLUSTER_CNI, "--output", "json",
            "--auto-approve"]


def test_an_uninterrupted_subprocess_apply_makes_the_expected_writes(harness: Harness) -> None:
    emu = harness.emu
    support.reset(emu)
    done = subprocess.run(_apply_cmd(), env=_child_env(emu), cwd=support.ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert len(support.arm_writes(emu, WRITES)) == TOTAL_WRITES
    assert support.state(emu.dump()) == harness.baseline(CLUSTER)


@pytest.mark.parametrize("kill_at", [1, 3, 5, TOTAL_WRITES])
def test_sigkill_between_writes_then_a_fresh_run_converges(harness: Harness, kill_at: int) -> None:
    emu = harness.emu
    baseline = harness.baseline(CLUSTER)
    support.reset(emu)
    reached = threading.Event()
    release = threading.Event()
    seen: list[int] = []
    lock = threading.Lock()

    def hold_nth(_: Any) -> None:
        with lock:
            seen.append(1)
            nth = len(seen)
        if nth == kill_at:
            reached.set()
            release.wait(30)

    emu.faults.before("PUT", WRITES, hold_nth, count=kill_at)
    child = subprocess.Popen(_apply_cmd(), env=_child_env(emu), cwd=support.ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        assert reached.wait(120), "the child never reached the write to kill at"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        assert child.returncode == -signal.SIGKILL
    finally:
        release.set()
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout:
            child.stdout.close()
        if child.stderr:
            child.stderr.close()
    emu.faults.clear()
    interrupted = support.state(emu.dump())
    assert support.safety_violations(interrupted) == []

    child_writes = support.arm_writes(emu, WRITES)
    assert kill_at <= len(child_writes) <= TOTAL_WRITES + 4  # + in-flight parallel lanes at the kill
    emu.clear_log()
    result = harness.reconciler().reconcile_combined(CLUSTER, dry_run=False)
    assert result.converged, support.describe(result)
    final = support.state(emu.dump())
    assert support.safety_violations(final) == []
    assert final == baseline
    # The fresh run writes each missing piece at most once. (The held write is released right after the
    # kill and may land while the fresh run plans: the gateway then finds it done and skips the PUT.)
    fresh = [r.path.lower() for r in support.arm_writes(emu, WRITES)]
    assert len(fresh) == len(set(fresh)) and len(fresh) <= len(result.plan.writes) <= TOTAL_WRITES
    harness.close_gateways()
