"""`aks-remediation` (or `python -m remediation`): plan, apply, sweep, prepare-subnet, status, show from a terminal.

Exit codes follow terraform and add two rules: 0 success, 1 error, 2 with --detailed-exitcode when there are
changes (planned, or made by apply/sweep --apply), 3 when the named target is skipped (kubenet, v1 gateway,
... : the reason is in the output). A blocking conflict (a write this tool refuses to make: a foreign route in
the way, an ARM limit, ...) is never "no changes" nor "changes": every command exits 1 and prints one line
`blocked: <address>: <reason>` on stderr (docs/cli.md section 3). Writes are approved: on a terminal the plan
is shown and only `yes` goes on; elsewhere `--auto-approve` is required; `apply FILE` applies a saved plan
only while it is fresh. `--emulator-seed FILE` runs the command against the embedded local ARM emulator
(shipped as `aks_remediation_emulator`, remediation/cli/emulated.py), seeded from ARM JSON, so a user can
preview the plan for their own topology. Options, output and terraform's spellings: remediation/cli/parser.py
and output.py.
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
from typing import Any

from remediation.azure.credentials import missing_credential_message
from remediation.cli import approve as cli_approve
from remediation.cli import emulated as cli_emulated
from remediation.cli import output
from remediation.cli import owned as cli_owned
from remediation.cli import plan_file as cli_plan_file
from remediation.cli import show as cli_show
from remediation.cli.parser import PROG, build_parser, parse
from remediation.cli.targets import expansion
from remediation.core.config import Mode, Settings, load_settings, read_local_settings
from remediation.core.errors import RemediationError, RemediationInputError
from remediation.core.ids import id_key
from remediation.core.model import ReconcileResult, Target
from remediation.engine.destroy import Destroyer
from remediation.engine.export import export_estate
from remediation.engine.locks import LockProvider, locks_from_settings
from remediation.engine.reconciler import Approve, Reconciler
from remediation.engine.status import scope_compliance
from remediation.planning.compliance import ComplianceState
from remediation.views import render, render_status

log = logging.getLogger("remediation.cli.main")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_SKIPPED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C

Ask = Callable[[str], str]

__all__ = ["EXIT_CHANGES", "EXIT_ERROR", "EXIT_OK", "EXIT_SKIPPED", "build_parser", "main"]


def main(argv: Sequence[str] | None = None, *, ask: Ask | None = None) -> int:
    """`ask` answers the approval prompt; by default input() when stdin is a terminal, else nobody."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["emulator"]:
        code: int = cli_emulated.load("cli").main(args_list[1:])
        return code
    args = parse(args_list)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # DefaultAzureCredential logs every credential it tried; the error line below says it in one.
        logging.getLogger("azure.identity").setLevel(logging.ERROR)
    if ask is None and sys.stdin is not None and sys.stdin.isatty():
        ask = input
    try:
        return _run(args, ask)
    except KeyboardInterrupt:
        output.err("interrupted (Ctrl-C): writes already sent stand; run `plan` to see where things are")
        return EXIT_INTERRUPTED
    except Exception as exc:
        message = missing_credential_message(exc)
        if message is None and not isinstance(exc, RemediationError):
            raise
        output.err("error: " + (message or str(exc)))
        return EXIT_ERROR


def _run(args: argparse.Namespace, ask: Ask | None) -> int:
    if args.command == "show":
        return _show(args)
    env = _settings_source(args)
    with _arm_endpoint(args, env) as effective_env:
        reconciler = Reconciler(load_settings(effective_env))
        if args.command == "status":
            return _status(args, reconciler)
        if args.command == "owned":
            return _owned(args, reconciler)
        if args.command == "export":
            return _export(args, reconciler.settings)
        if args.command == "sweep" and args.destroy:
            return _destroy(args, reconciler.settings, ask, lambda: locks_from_settings(effective_env))
        return _command(args, reconciler, ask, lambda: locks_from_settings(effective_env))


# --------------------------------------------------------------------------------------------- commands


def _writes(args: argparse.Namespace) -> bool:
    if args.command == "apply":
        return True
    if args.command == "sweep":
        return bool(args.apply)
    return args.command == "prepare-subnet" and not args.dry_run


def _writer(reconciler: Reconciler, writer_locks: Callable[[], LockProvider]) -> Reconciler:
    return Reconciler(reconciler.settings, locks=_probed(writer_locks))


def _probed(writer_locks: Callable[[], LockProvider]) -> LockProvider:
    """A writing command takes the same blob leases as the Function app when AzureWebJobsStorage is set (else
    it says that other writers are not excluded). The lock store is reached once before anything is planned:
    storage that is down ends the run with one line and zero writes, not after the plan or the prompt."""
    locks = writer_locks()
    probe = getattr(locks, "probe", None)
    if callable(probe):
        probe()
    return locks


def _destroy(args: argparse.Namespace, settings: Settings, ask: Ask | None,
             writer_locks: Callable[[], LockProvider]) -> int:
    """`sweep --destroy`: the removal of what the tool owns (remediation/engine/destroy.py), dry unless --apply,
    asked like `apply`; the same exit codes as `sweep`."""
    writes = bool(args.apply)
    if writes and settings.mode is Mode.REPORT:
        raise RemediationInputError("REMEDIATION_MODE=report: `sweep --destroy --apply` would write and report "
                                    "mode writes nothing; set REMEDIATION_MODE=enforce, or drop --apply to see "
                                    "the plan")
    target = Target.sweep_of(settings.scope)
    banner = f"target: {target.id}: remove everything this tool owns there (sweep --destroy); nothing foreign"
    if not writes:
        result = Destroyer(settings).run(dry_run=True)
        _print(result, args, banner)
        return _exit_code(result, args, target)
    approval = _approval(args, None, ask, banner)
    destroyer = Destroyer(settings, locks=_probed(writer_locks))
    if approval.reviews:
        preview = destroyer.run(dry_run=True)
        if not approval(preview.plan):
            output.err("error: " + (approval.refusal or "not approved"))
            return EXIT_ERROR
        # One plan, routing and firewall together: the fresh one (read inside the lease) must equal it whole.
        approval = cli_approve.saved_plan(cli_plan_file.reviewed(preview.plan, target, settings))
    result = destroyer.run(dry_run=False, approve=approval)
    if approval.refusal is not None:
        output.err("error: " + approval.refusal)
        if args.output == "json":
            _print(result, args, banner)
        return EXIT_ERROR
    _print(result, args, banner)
    return _exit_code(result, args, target)


def _command(args: argparse.Namespace, reconciler: Reconciler, ask: Ask | None,
             writer_locks: Callable[[], LockProvider]) -> int:
    writes = _writes(args)
    if writes and reconciler.settings.mode is Mode.REPORT:
        raise RemediationInputError(
            f"REMEDIATION_MODE=report: `{args.command}` would write and report mode writes nothing; set "
            "REMEDIATION_MODE=enforce to make changes, or use `plan` / `sweep` to see them")
    saved = _saved_plan(args, reconciler)
    target = saved.target if saved is not None else _target(args, reconciler)
    given = getattr(args, "target", None) or getattr(args, "subnet", None)
    banner = expansion(given, target)
    require_exists = args.command in {"plan", "apply"}
    approval = _approval(args, saved, ask, banner) if writes else None
    if writes:
        reconciler = _writer(reconciler, writer_locks)
    if approval is not None and approval.reviews:
        # One review of the whole plan (the target and its firewall follow-up) before any write, like
        # terraform's; the writes then go ahead per target only while its fresh plan equals what was reviewed.
        preview = _reconcile(reconciler, target, dry_run=True, require_exists=require_exists, approve=None)
        if not approval(preview.plan):
            output.err("error: " + (approval.refusal or "not approved"))
            if args.output == "json":
                _print(dataclasses.replace(
                    preview, error=f"not approved: {len(preview.plan.writes)} planned write(s), none made"),
                    args, banner)
            return EXIT_ERROR
        approval = cli_approve.matching(saved or cli_plan_file.reviewed(preview.plan, target, reconciler.settings))
    result = _reconcile(reconciler, target, dry_run=not writes, require_exists=require_exists, approve=approval)
    if approval is not None and approval.refusal is not None:
        output.err("error: " + approval.refusal)
        if args.output == "json":
            _print(result, args, banner)
        return EXIT_ERROR
    _print(result, args, banner)
    if args.command == "plan" and args.out:
        cli_plan_file.save(args.out, target, reconciler.settings, result)
        _saved_note(args)
    return _exit_code(result, args, target)


def _saved_note(args: argparse.Namespace) -> None:
    """terraform's closing line after `plan -out`; on stderr when stdout carries JSON (or nothing)."""
    note = (f"Saved the plan to {args.out}. To make exactly these changes, run `{PROG} apply {args.out}` "
            f"(or look at it with `{PROG} show {args.out}`).")
    print(note, file=sys.stdout if args.output == "text" else sys.stderr)


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
              ask: Ask | None, banner: str) -> cli_approve.Approval:
    if saved is not None:
        return cli_approve.saved_plan(saved)  # the saved plan was the review; only freshness is checked
    if args.auto_approve:
        return cli_approve.auto()
    if ask is None:
        command = "sweep --apply" if args.command == "sweep" else args.command
        raise RemediationInputError(f"{command} needs --auto-approve when stdin is not a terminal (nothing was "
                                    "read or written); or save a plan with `plan -out FILE` and `apply FILE`")
    stream = sys.stdout if args.output == "text" else sys.stderr

    def show(text: str) -> None:
        text = output.shorten_ids(f"{banner}\n{text}")
        print(output.colour(text) if output.use_colour(args.no_color, stream) else text, file=stream)

    return cli_approve.interactive(ask, show)


def _status(args: argparse.Namespace, reconciler: Reconciler) -> int:
    if args.verify and not reconciler.settings.verify_effective_routes:
        reconciler = Reconciler(dataclasses.replace(reconciler.settings, verify_effective_routes=True))
    report = scope_compliance(reconciler)
    if args.output == "json":
        output.emit_json(render_status.to_json(report), args)
    elif args.output == "markdown":
        print(render_status.render_markdown(report))
    elif args.output in {"table", "tsv"}:
        rows = render_status.to_json(report)["clusters"]
        output.emit_rows(rows, ("state", "name", "id"), args)
    else:
        output.emit_text(render_status.render_text(report), args)
    if report.firewall.state is ComplianceState.SKIPPED:
        # No firewall, no verdict: a compliance gate must not pass green (plan and sweep exit 1 here too).
        output.err(f"error: {report.firewall.reason or 'firewall not found'}: {reconciler.settings.firewall_id}")
        return EXIT_ERROR
    missing = [f for f in report.firewalls if f.state is ComplianceState.SKIPPED]
    if missing:  # FIREWALL_IDS: any configured firewall not found, the same
        output.err(f"error: {missing[0].reason}: {', '.join(f.address for f in missing)}")
        return EXIT_ERROR
    conflicted = [c for c in report.clusters if c.state is ComplianceState.CONFLICTED]
    if conflicted:
        first = conflicted[0]
        more = f" (and {len(conflicted) - 1} more cluster(s))" if len(conflicted) > 1 else ""
        output.err(f"blocked: {first.cluster_id}: {(first.conflicts or ('conflicted',))[0]}{more}")
        return EXIT_ERROR
    return EXIT_CHANGES if args.detailed_exitcode and not report.compliant else EXIT_OK


def _owned(args: argparse.Namespace, reconciler: Reconciler) -> int:
    # Each configured firewall's view of one fleet read (FIREWALL_IDS): its owned groups or classic collections.
    snapshot, views, _ = reconciler.observe_scope_by_firewall()
    items = list(cli_owned.owned(snapshot, reconciler.settings))
    seen = {item.id.lower() for item in items}
    for view in views.values():
        if view is snapshot or view.firewall is None:
            continue
        for item in cli_owned.owned(view, reconciler.settings.for_firewall(view.firewall.id)):
            if item.id.lower() not in seen:
                seen.add(item.id.lower())
                items.append(item)
    scope = reconciler.scope_target().id
    if args.output == "json":
        output.emit_json({"scope": scope, "owned": [item.json() for item in items]}, args)
    elif args.output in {"table", "tsv"}:
        output.emit_rows([item.json() for item in items], ("kind", "id", "detail"), args)
    else:
        output.emit_text(cli_owned.render_text(scope, tuple(items)), args)
    return EXIT_OK


def _export(args: argparse.Namespace, settings: Settings) -> int:
    """The estate in scope as a seed (remediation/engine/export.py): to FILE with --out, else to stdout."""
    document = export_estate(settings)
    if not args.out:
        output.emit_json(document, args)
        return EXIT_OK
    Path(args.out).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"Exported {len(document['resources'])} resource(s) to {args.out}. To see the plan for this estate, run "
          f"`{PROG} --emulator-seed {args.out} sweep` (or `plan --target ID`).", file=sys.stderr)
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    """A saved plan as text or JSON, from the file alone: nothing is read from Azure, no settings needed."""
    cli_plan_file.load(args.plan_file)  # the same checks as `apply FILE`: one line when it is not a plan
    document = cli_show.read(args.plan_file)
    if args.output == "json":
        output.emit_json(document, args)
    else:
        output.emit_text(cli_show.render_saved(args.plan_file, document), args)
    changes = document["plan"].get("summary", {})
    if args.detailed_exitcode and any(changes.get(k) for k in ("create", "update", "delete")):
        return EXIT_CHANGES
    return EXIT_OK


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
    try:
        emulator = cli_emulated.load().Emulator(seed=seed)
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
    # The emulator's own reading of a seed: a seed document, a bare list of bodies, one body, an ARM list page
    # {"value": [...]} or a Resource Graph answer {"data": [...]} (emulator/seed.py `as_seed_document`).
    try:
        document: dict[str, Any] = cli_emulated.load("seed").as_seed_document(seed)
    except ValueError as exc:  # SeedError: one line naming the shapes it takes
        raise RemediationInputError(f"--emulator-seed: {path}: {exc}") from exc
    if not isinstance(document.get("resources"), list):
        raise RemediationInputError(f"--emulator-seed: {path} is not ARM JSON: \"resources\" must be a list")
    return document


# --------------------------------------------------------------------------------------------- output


def _print(result: ReconcileResult, args: argparse.Namespace, banner: str) -> None:
    if args.output == "json":
        document = render.to_json(result)
        document["expansion"] = banner.removeprefix("target: ")
        output.emit_json(document, args)
    else:
        output.emit_text(f"{banner}\n{render.render_text(result)}", args)


def _named_target_skipped(result: ReconcileResult, target: Target) -> bool:
    return any(id_key(skip.target) == id_key(target.id) for skip in result.plan.skipped)


def _why_not_converged(result: ReconcileResult) -> str:
    failed = next((o for o in result.outcomes if o.error), None)
    if failed is not None:
        return f"{failed.change.address}: {failed.error}"
    return "a re-read after the writes still found changes to make: run `plan` to see them"


def _exit_code(result: ReconcileResult, args: argparse.Namespace, target: Target) -> int:
    """The documented codes (module docstring); every exit 1 but a reported error gets its one line here."""
    blocking = result.plan.blocking_conflicts
    if blocking:
        first = blocking[0]
        more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
        output.err(f"blocked: {first.address}: {first.message}{more}")
        return EXIT_ERROR
    if result.error:
        if args.output != "text":  # the text output ends with this line already
            output.err(f"error: {result.error}")
        return EXIT_ERROR
    if result.converged is False:
        output.err(f"not converged: {_why_not_converged(result)}")
        return EXIT_ERROR
    if args.command != "sweep" and _named_target_skipped(result, target):
        return EXIT_SKIPPED
    if args.detailed_exitcode and result.plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK
