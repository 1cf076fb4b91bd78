"""`pip install .` gives a working CLI: the wheel built from this tree, installed into a fresh venv outside it.

The wheel is built once per module without network (`--no-build-isolation`, setuptools from
requirements-dev.txt) from a copy of the tree, so the build leaves nothing in the repository. The fresh venv
gets the wheel only; its dependencies are taken from the test venv through a `.pth` file (installing them from
the registry would take minutes and prove nothing about this project). Every command runs in a directory
outside the repository, with nothing of the repository on sys.path.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import remediation

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-spoke/providers/"
           "Microsoft.ContainerService/managedClusters/aks-overlay")
_NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "node_modules", "__pycache__", "*.pyc", ".*_cache",
                                      ".hypothesis", "build", "dist", "*.egg-info", "__azurite_db*",
                                      "__blobstorage__", "__queuestorage__")


@dataclass(frozen=True)
class Installed:
    venv: Path
    cwd: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def script(self) -> Path:
        return self.venv / "bin" / "aks-remediation"

    def run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {"PATH": f"{self.venv / 'bin'}:/usr/bin:/bin", "HOME": str(self.cwd)}
        return subprocess.run([str(a) for a in args], cwd=self.cwd, env=env, capture_output=True, text=True,
                              timeout=120, check=check)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCES, symlinks=True)
    dist = base / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--wheel-dir", str(dist), str(source)], check=True, capture_output=True,
                   timeout=300)
    (wheel,) = dist.glob("*.whl")
    target = base / "venv"
    venv.create(target, with_pip=False)
    site = Path(subprocess.run([str(target / "bin" / "python"), "-c", "import sysconfig; "
                                "print(sysconfig.get_path('purelib'))"], check=True, capture_output=True,
                               text=True).stdout.strip())
    (site / "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), "install",
                    "--quiet", "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True,
                   timeout=300)
    cwd = base / "elsewhere"
    cwd.mkdir()
    yield Installed(target, cwd)


def test_the_console_script_and_python_dash_m_print_the_version(installed: Installed) -> None:
    expected = f"aks-egress-remediation {remediation.__version__}"
    assert installed.run(installed.script, "--version").stdout.strip() == expected
    assert installed.run(installed.python, "-m", "remediation", "--version").stdout.strip() == expected


def _pins() -> dict[str, str]:
    """name -> exact version, from the Function app's requirements.txt and the CLI's requirements-cli.txt."""
    pins = {}
    for name in ("requirements.txt", "requirements-cli.txt"):
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                package, _, version = line.strip().partition("==")
                pins[package.lower()] = version
    return pins


def test_the_installed_package_is_the_one_that_runs(installed: Installed) -> None:
    out = installed.run(installed.python, "-c", "import json, remediation, aks_remediation_emulator as e, "
                        "importlib.metadata as m; print(json.dumps([remediation.__file__, e.__file__, "
                        "m.version('aks-egress-remediation'), m.requires('aks-egress-remediation')]))")
    module, emulator_module, version, requires = json.loads(out.stdout)
    assert Path(module).is_relative_to(installed.venv) and Path(emulator_module).is_relative_to(installed.venv)
    assert version == remediation.__version__
    # Compatible ranges, not pins: each from the tested version (requirements*.txt) up to the next major.
    pins = _pins()
    ranges = {}
    for requirement in requires:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)
        low, high = re.search(r">=([0-9.]+)", requirement), re.search(r"<([0-9]+)(?:,|$)", requirement)
        assert name and low and high and "==" not in requirement, requirement
        ranges[name.group(0).lower()] = (low.group(1), high.group(1))
        assert high.group(1) == str(int(low.group(1).split(".")[0]) + 1), requirement
    assert {name: low for name, (low, _) in ranges.items()} == {
        name: version for name, version in pins.items()
        if name not in {"azure-functions-runtime", "azurefunctions-extensions-base"}}  # the host's worker


def test_the_wheel_ships_no_bare_emulator_package(installed: Installed) -> None:
    """The emulator is `aks_remediation_emulator` in site-packages; a top-level `emulator` is not installed."""
    site = Path(installed.run(installed.python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
                .stdout.strip())
    assert (site / "aks_remediation_emulator" / "__init__.py").exists()
    assert not (site / "emulator").exists()
    proc = installed.run(installed.python, "-c", "import emulator", check=False)
    assert proc.returncode != 0 and "No module named 'emulator'" in proc.stderr


def test_the_installed_cli_plans_against_a_seeded_emulator_from_another_directory(installed: Installed) -> None:
    seed = shutil.copy(ROOT / "examples" / "private-network.json", installed.cwd / "topology.json")
    settings = shutil.copy(ROOT / "examples" / "private-network.settings.json", installed.cwd / "settings.json")
    proc = installed.run(installed.script, "plan", "--target", CLUSTER, "--settings", settings,
                         "--emulator-seed", seed, "--output", "json", check=False)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["dryRun"] is True and plan["summary"]["create"] > 0 and plan["armCalls"]["writes"] == 0
