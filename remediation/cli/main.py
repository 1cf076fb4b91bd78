"""`python -m remediation`: plan, apply, sweep, prepare-subnet and status from a terminal.

Exit codes follow terraform and add one: 0 success, 1 error, 2 with --detailed-exitcode when there are
changes (planned, or made by apply/sweep --apply), 3 when the named target is skipped (kubenet, v1 gateway,
... : the reason is in the output). Writes are approved: on a terminal the plan is shown and only `yes`
goes on; elsewhere `--auto-approve` is required; `apply FILE` applies a saved plan only while it is fresh.
`--emulator-seed FILE` runs the command against the embedded local ARM emulator (package `emulator`, a
development dependency), seeded from ARM JSON, so a user can preview the plan for their own topology.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from remediation import __version__
from remediation.azure.credentials import missing_credential_message
from remediation.cli import approve as cli_approve
from remediation.cli import plan_file as cli_plan_file
from remediation.cli.help import DESCRIPTIONS, epilog
from remediation.core.config import Mode, load_settings, read_local_settings
from remediation.core.errors import RemediationError, RemediationInputError
from remediation.core.ids import id_key
from remediation.core.model import ReconcileResult, Target
from remediation.engine.locks import LockProvider, locks_from_settings
from remediation.engine.reconciler import Approve, Reconciler
from remediation.engine.status import scope_compliance
from remediation.views import render, render_status

log = logging.getLogger("remediation.cli.main")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_SKIPPED = 3

Ask = Callable[[str], str]


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1 with one line: exit 2 means "there are changes" (--detailed-exitcode)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"error: {self.prog}: {message}\n")


def _common(outputs: Sequence[str]) -> _Parser:
    common = _Parser(add_help=False)
    common.add_argument("--settings", metavar="FILE",
                        help="read settings from a Functions local.settings.json (else from the environment)")
    common.add_argument("--output", choices=outputs, default="text")
    common.add_argument("--detailed-exitcode", action="store_true",
                        help="exit 2 when there are changes (terraform's convention)")
    common.add_argument("--emulator-seed", metavar="FILE",
                        help="run against the embedded local ARM emulator seeded from FILE ({'resources': [...]})")
    common.add_argument("--emulator-dump", metavar="FILE",
                        help="with --emulator-seed: write the emulator's final state to FILE (seed format)")
    common.add_argument("-v", "--verbose", action="store_true", help="log what is read and written")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m remediation",
        description="Keep AKS private-network egress/ingress routing and firewall rules as the runbook says.",
        epilog="exit codes: 0 success, 1 error, 2 changes (with --detailed-exitcode), 3 named target skipped",
    )
    parser.add_argument("--version", action="version", version=f"aks-egress-remediation {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    plans = _common(("text", "json"))

    def command(name: str, help_text: str, parent: _Parser = plans) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[parent], help=help_text, description=DESCRIPTIONS[name],
                              epilog=epilog(name), formatter_class=argparse.RawDescriptionHelpFormatter)

    target_help = ("a managedClusters, applicationGateways, azureFirewalls/firewallPolicies, VNet, subnet or "
                   "route table id")
    plan = command("plan", "show what would change for a target")
    plan.add_argument("--target", required=True, help=target_help)
    plan.add_argument("-out", "--out", dest="out", metavar="FILE", help="save the plan for `apply FILE`")
    apply = command("apply", "make the changes for a target (or a saved plan), then verify")
    apply.add_argument("plan_file", nargs="?", metavar="FILE", help="a plan saved by `plan -out FILE`")
    apply.add_argument("--target", help=target_help)
    apply.add_argument("--auto-approve", action="store_true", help="do not ask; required when not on a terminal")
    sweep = command("sweep", "plan (or with --apply reconcile) everything in REMEDIATION_SCOPE")
    mode = sweep.add_mutually_exclusive_group()
    mode.add_argument("--apply", action="store_true", help="make the changes (asks, like apply)")
    mode.add_argument("--dry-run", action="store_true", help="plan only: the default, kept for scripts")
    sweep.add_argument("--auto-approve", action="store_true", help="with --apply: do not ask")
    prepare = command("prepare-subnet", "route a subnet through the firewall before a userDefinedRouting "
                                        "cluster exists")
    prepare.add_argument("--subnet", required=True, help="the subnet id")
    prepare.add_argument("--dry-run", action="store_true", help="plan only")
    prepare.add_argument("--auto-approve", action="store_true", help="do not ask; required when not on a terminal")
    command("status", "compliance of every cluster in scope", _common(("text", "json", "markdown")))
    sub.add_parser("emulator", add_help=False, help="serve the local ARM emulator (see emulator/README.md)")
    return parser


def main(argv: Sequence[str] | None = None, *, ask: Ask | None = None) -> int:
    """`ask` answers the approval prompt; by default input() when stdin is a terminal, else nobody."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["emulator"]:
        from emulator.cli import main as emulator_main  # development tool, imported only when asked for

        return emulator_main(args_list[1:])
    args = build_parser().parse_args(args_list)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # DefaultAzureCredential logs every credential it tried; the error line below says it in one.
        logging.getLogger("azure.identity").setLevel(logging.ERROR)
    if ask is None and sys.stdin is not None and sys.stdin.isatty():
        ask = input
    try:
        env = _settings_source(args)
        with _arm_endpoint(args, env) as effective_env:
            # A writing command takes the same blob leases as the Function app when AzureWebJobsStorage is
            # set (else it says that other writers are not excluded); a plan writes nothing and needs none.
            reconciler = Reconciler(load_settings(effective_env))
            if args.command == "status":
                return _status(args, reconciler)
            return _command(args, reconciler, ask, lambda: locks_from_settings(effective_env))
    except Exception as exc:
        message = missing_credential_message(exc)
        if message is None and not isinstance(exc, RemediationError):
            raise
        # ONE line: ARM messages (and paths in seed/settings errors) may hold newlines.
        print("error: " + (message or " ".join(str(exc).split())), file=sys.stderr)
        return EXIT_ERROR


# --------------------------------------------------------------------------------------------- commands


def _writes(args: argparse.Namespace) -> bool:
    if args.command == "apply":
        return True
    if args.command == "sweep":
        return bool(args.apply)
    return args.command == "prepare-subnet" and not args.dry_run


def _command(args: argparse.Namespace, reconciler: Reconciler, ask: Ask | None,
             writer_locks: Callable[[], LockProvider]) -> int:
    writes = _writes(args)
    if writes and reconciler.settings.mode is Mode.REPORT:
        raise RemediationInputError(
            f"REMEDIATION_MODE=report: `{args.command}` would write and report mode writes nothing; set "
            "REMEDIATION_MODE=enforce to make changes, or use `plan` / `sweep` to see them")
    saved = _saved_plan(args, reconciler)
    target = saved.target if saved is not None else _target(args, reconciler)
    require_exists = args.command in {"plan", "apply"}
    approval = _approval(args, saved, ask) if writes else None
    if writes:
        # A writing command takes the same blob leases as the Function app when AzureWebJobsStorage is set
        # (else it says that other writers are not excluded); a plan writes nothing and needs none.
        reconciler = Reconciler(reconciler.settings, locks=writer_locks())
    if approval is not None and approval.reviews:
        # One review of the whole plan (the target and its firewall follow-up) before any write, like
        # terraform's; the writes then go ahead per target only while its fresh plan equals what was reviewed.
        preview = _reconcile(reconciler, target, dry_run=True, require_exists=require_exists, approve=None)
        if not approval(preview.plan):
            print("error: " + (approval.refusal or "not approved"), file=sys.stderr)
            if args.output == "json":
                _print(dataclasses.replace(
                    preview, error=f"not approved: {len(preview.plan.writes)} planned write(s), none made"),
                    args.output)
            return EXIT_ERROR
        approval = cli_approve.matching(saved or cli_plan_file.reviewed(preview.plan, target, reconciler.settings))
    result = _reconcile(reconciler, target, dry_run=not writes, require_exists=require_exists, approve=approval)
    if args.command == "plan" and args.out:
        cli_plan_file.save(args.out, target, reconciler.settings, result)
    if approval is not None and approval.refusal is not None:
        print("error: " + approval.refusal, file=sys.stderr)
        if args.output == "json":
            _print(result, args.output)
        return EXIT_ERROR
    _print(result, args.output)
    return _exit_code(result, args, target)


def _reconcile(reconciler: Reconciler, target: Target, *, dry_run: bool, require_exists: bool,
               approve: Approve | None) -> ReconcileResult:
    """The CLI's only reconcile call: the target, then its follow-ups (the firewall target) right away, shown
    as one plan (remediation/views/results.py); `approve` is asked once per target that has writes."""
    return reconciler.reconcile_combined(target, dry_run=dry_run, require_exists=require_exists, approve=approve)


def _target(args: argparse.Namespace, reconciler: Reconciler) -> Target:
    if args.command in {"plan", "apply"}:
        if args.target is None:
            raise RemediationInputError("apply needs --target <id> or a saved plan FILE")
        return reconciler.resolve(args.target)
    if args.command == "sweep":
        return reconciler.scope_target()
    return reconciler.subnet_target(args.subnet)


def _saved_plan(args: argparse.Namespace, reconciler: Reconciler) -> cli_plan_file.SavedPlan | None:
    path = getattr(args, "plan_file", None)
    if not path:
        return None
    if args.target is not None:
        raise RemediationInputError("apply takes a saved plan FILE or --target, not both (the plan has its target)")
    saved = cli_plan_file.load(path)
    cli_plan_file.check_settings(saved, reconciler.settings)
    return saved


def _approval(args: argparse.Namespace, saved: cli_plan_file.SavedPlan | None,
              ask: Ask | None) -> cli_approve.Approval:
    if saved is not None:
        return cli_approve.saved_plan(saved)  # the saved plan was the review; only freshness is checked
    if args.auto_approve:
        return cli_approve.auto()
    if ask is None:
        command = "sweep --apply" if args.command == "sweep" else args.command
        raise RemediationInputError(f"{command} needs --auto-approve when stdin is not a terminal (nothing was "
                                    "read or written); or save a plan with `plan -out FILE` and `apply FILE`")
    show = print if args.output == "text" else (lambda text: print(text, file=sys.stderr))
    return cli_approve.interactive(ask, show)


def _status(args: argparse.Namespace, reconciler: Reconciler) -> int:
    report = scope_compliance(reconciler)
    if args.output == "json":
        print(json.dumps(render_status.to_json(report), indent=2))
    elif args.output == "markdown":
        print(render_status.render_markdown(report))
    else:
        print(render_status.render_text(report))
    return EXIT_CHANGES if args.detailed_exitcode and not report.compliant else EXIT_OK


# --------------------------------------------------------------------------------------------- settings


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


# --------------------------------------------------------------------------------------------- output


def _print(result: ReconcileResult, output: str) -> None:
    if output == "json":
        print(json.dumps(render.to_json(result), indent=2, sort_keys=False))
    else:
        print(render.render_text(result))


def _named_target_skipped(result: ReconcileResult, target: Target) -> bool:
    return any(id_key(skip.target) == id_key(target.id) for skip in result.plan.skipped)


def _exit_code(result: ReconcileResult, args: argparse.Namespace, target: Target) -> int:
    if result.error or (result.converged is False):
        return EXIT_ERROR
    if args.command != "sweep" and _named_target_skipped(result, target):
        return EXIT_SKIPPED
    if args.detailed_exitcode and result.plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK
