"""`python -m remediation`: plan, apply, sweep and prepare-subnet from a terminal.

Exit codes follow terraform: 0 success, 1 error, and with --detailed-exitcode 2 when a plan has changes.
`--emulator-seed FILE` runs the command against the embedded local ARM emulator (package `emulator`,
a development dependency), seeded from ARM JSON, so a user can preview the plan for their own topology.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from remediation import render
from remediation.config import Mode, load_settings, read_local_settings
from remediation.errors import ArmError, RemediationError, RemediationInputError
from remediation.locks import locks_from_settings
from remediation.model import ReconcileResult, Target
from remediation.reconciler import Reconciler
from remediation.results import combine

log = logging.getLogger("remediation.cli")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1 with one line: exit 2 means "the plan has changes" (--detailed-exitcode)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"error: {self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--settings", metavar="FILE",
                        help="read settings from a Functions local.settings.json (else from the environment)")
    common.add_argument("--output", choices=("text", "json"), default="text")
    common.add_argument("--detailed-exitcode", action="store_true",
                        help="exit 2 when the plan has changes (terraform's convention)")
    common.add_argument("--emulator-seed", metavar="FILE",
                        help="run against the embedded local ARM emulator seeded from FILE ({'resources': [...]})")
    common.add_argument("--emulator-dump", metavar="FILE",
                        help="with --emulator-seed: write the emulator's final state to FILE (seed format)")
    common.add_argument("-v", "--verbose", action="store_true", help="log what is read and written")

    parser = _Parser(
        prog="python -m remediation",
        description="Keep AKS private-network egress/ingress routing and firewall rules as the runbook says.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("plan", "show what would change for a target"),
                            ("apply", "make the changes for a target, then verify")):
        cmd = sub.add_parser(name, parents=[common], help=help_text)
        cmd.add_argument("--target", required=True,
                         help="a managedClusters, applicationGateways, azureFirewalls/firewallPolicies, VNet, "
                              "subnet or route table id")
    sweep = sub.add_parser("sweep", parents=[common], help="reconcile everything in REMEDIATION_SCOPE")
    sweep.add_argument("--dry-run", action="store_true", help="plan only")
    prepare = sub.add_parser("prepare-subnet", parents=[common],
                             help="route a subnet through the firewall before a userDefinedRouting cluster exists")
    prepare.add_argument("--subnet", required=True, help="the subnet id")
    prepare.add_argument("--dry-run", action="store_true", help="plan only")
    sub.add_parser("emulator", add_help=False, help="serve the local ARM emulator (see emulator/README.md)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["emulator"]:
        from emulator.cli import main as emulator_main  # development tool, imported only when asked for

        return emulator_main(args_list[1:])
    args = build_parser().parse_args(args_list)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        env = _settings_source(args)
        with _arm_endpoint(args, env) as effective_env:
            settings = load_settings(effective_env)
            # A writing command takes the same blob leases as the Function app when AzureWebJobsStorage is
            # set (else it says that other writers are not excluded); a plan writes nothing and needs none.
            writes = args.command == "apply" or (args.command in {"sweep", "prepare-subnet"} and not args.dry_run)
            reconciler = Reconciler(settings, locks=locks_from_settings(effective_env) if writes else None)
            results = _run(args, reconciler)
    except (RemediationInputError, ArmError, RemediationError) as exc:
        # ONE line: ARM messages (and paths in seed/settings errors) may hold newlines.
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)
        return EXIT_ERROR
    # The target and the follow-ups run after it (the firewall target) read as one plan.
    result = combine(results)
    _print(result, args.output)
    return _exit_code(result, args)


def _run(args: argparse.Namespace, reconciler: Reconciler) -> list[ReconcileResult]:
    target: Target
    if args.command in {"plan", "apply"}:
        target = reconciler.resolve(args.target)
        dry_run = args.command == "plan"
    elif args.command == "sweep":
        target = reconciler.scope_target()
        dry_run = bool(args.dry_run)
    else:
        target = reconciler.subnet_target(args.subnet)
        dry_run = bool(args.dry_run)
    if not dry_run and reconciler.settings.mode is Mode.REPORT:
        print("REMEDIATION_MODE=report: running as a dry run, nothing is written", file=sys.stderr)
    return reconciler.reconcile_with_follow_ups(target, dry_run=dry_run,
                                                require_exists=args.command in {"plan", "apply"})


def _settings_source(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if args.settings:
        env.update(read_local_settings(args.settings))
    return env


@contextmanager
def _arm_endpoint(args: argparse.Namespace, env: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Point the run at the embedded emulator when asked; otherwise use the settings as they are."""
    if not args.emulator_seed:
        if args.emulator_dump:
            raise RemediationInputError("--emulator-dump needs --emulator-seed")
        yield dict(env)
        return
    seed = _read_seed(args.emulator_seed)
    from emulator import Emulator  # development tool, imported only when asked for

    try:
        emulator = Emulator(seed=seed)
    except ValueError as exc:  # the emulator's SeedError names the item and the problem
        raise RemediationInputError(f"{args.emulator_seed}: {exc}") from exc
    with emulator:
        saved = {k: os.environ.get(k) for k in emulator.env()}
        # The SDK credential and TLS stack read these from the process environment, as in production.
        os.environ.update(emulator.env())
        try:
            yield {**env, **emulator.env()}
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            if args.emulator_dump:
                Path(args.emulator_dump).write_text(json.dumps(emulator.dump(), indent=2) + "\n", encoding="utf-8")


def _read_seed(path: str) -> dict[str, Any]:
    try:
        seed = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RemediationInputError(f"--emulator-seed: cannot read {path}: {exc}") from exc
    if not isinstance(seed, dict) or not isinstance(seed.get("resources"), list):
        raise RemediationInputError(f"--emulator-seed: {path} is not ARM JSON: expected {{\"resources\": [...]}}")
    return seed


def _print(result: ReconcileResult, output: str) -> None:
    if output == "json":
        print(json.dumps(render.to_json(result), indent=2, sort_keys=False))
    else:
        print(render.render_text(result))


def _exit_code(result: ReconcileResult, args: argparse.Namespace) -> int:
    if result.error or (result.converged is False):
        return EXIT_ERROR
    if args.detailed_exitcode and result.dry_run and result.plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK
