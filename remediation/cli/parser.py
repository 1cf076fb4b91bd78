"""The CLI's arguments: subcommands, the options every command shares, and terraform's spellings.

- Shared options (--settings, -o/--output, --query, --no-color, --detailed-exitcode, --emulator-seed, ...) are
  accepted before or after the subcommand, as az and kubectl accept them: the root parser holds the defaults,
  each subcommand the same options with `SUPPRESS` so a value given after the subcommand wins and one given
  before is not reset.
- No abbreviations (`allow_abbrev=False`): `-o json` once matched `-out` and wrote a plan file named `json`.
  `-o` is `--output` everywhere.
- terraform's single-dash spellings (`-target=ID`, `-out=FILE`, `-auto-approve`, `-detailed-exitcode`,
  `-no-color`) are rewritten to the double-dash options before parsing; any other single-dash word that names
  one of our long options is rewritten too, and one that names none is left for argparse to refuse.
- `--target` names one target; a repeated `--target` is refused (terraform's repeated -target is not
  supported: a run reconciles one target, `sweep` the whole scope).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from remediation import __version__
from remediation.cli.help import DESCRIPTIONS, TARGET_HELP, epilog

PROG = "aks-remediation"
EXIT_ERROR = 1

# What each command prints: rows (table/tsv) only where the output is a list of things.
OUTPUTS: dict[str, tuple[str, ...]] = {
    "plan": ("text", "json", "none"),
    "apply": ("text", "json", "none"),
    "sweep": ("text", "json", "none"),
    "prepare-subnet": ("text", "json", "none"),
    "status": ("text", "json", "table", "tsv", "markdown", "none"),
    "show": ("text", "json", "none"),
    "owned": ("text", "json", "table", "tsv", "none"),
    "export": ("text", "json", "none"),
}
ALL_OUTPUTS = ("text", "json", "table", "tsv", "markdown", "none")


class Parser(argparse.ArgumentParser):
    """Usage errors exit 1 with one line: exit 2 means "there are changes" (--detailed-exitcode)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"error: {self.prog}: {message}\n")


class _Once(argparse.Action):
    """An option that may be given once: a second value is refused, not silently kept."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} given twice: a run reconciles one target (`sweep` covers the whole "
                         "REMEDIATION_SCOPE); run the command once per target")
        setattr(namespace, self.dest, values)


def _shared(parser: argparse.ArgumentParser, *, root: bool, outputs: tuple[str, ...] = ALL_OUTPUTS) -> None:
    """The options every command takes; on the root with defaults, on a subcommand without (SUPPRESS)."""

    def default(value: Any) -> Any:
        return value if root else argparse.SUPPRESS

    parser.add_argument("--settings", metavar="FILE", default=default(None),
                        help="read settings from a Functions local.settings.json (else from the environment)")
    parser.add_argument("-o", "--output", choices=outputs, default=default(None),
                        help="text (default), json, none; table and tsv for status and owned; markdown for status")
    parser.add_argument("--query", metavar="JMESPATH", default=default(None),
                        help="a JMESPath query on the JSON output (implies -o json)")
    parser.add_argument("--no-color", action="store_true", default=default(False),
                        help="no colours (also off with NO_COLOR set or when not on a terminal)")
    parser.add_argument("--detailed-exitcode", action="store_true", default=default(False),
                        help="exit 2 when there are changes (terraform's convention)")
    parser.add_argument("--emulator-seed", metavar="FILE", default=default(None),
                        help="run against the embedded local ARM emulator seeded from FILE (ARM JSON: "
                             "{'resources': [...]}, a list of bodies, one body, {'value': [...]} or "
                             "Resource Graph's {'data': [...]})")
    parser.add_argument("--emulator-dump", metavar="FILE", default=default(None),
                        help="with --emulator-seed: write the emulator's final state to FILE (seed format)")
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False),
                        help="log what is read and written")


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Keep AKS private-network egress/ingress routing and firewall rules as the runbook says.",
        epilog="exit codes: 0 success, 1 error or a blocking conflict (one 'blocked:' line says why), "
               "2 changes (with --detailed-exitcode), 3 named target skipped",
    )
    parser.add_argument("--version", action="version", version=f"aks-egress-remediation {__version__}")
    _shared(parser, root=True)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        made = sub.add_parser(name, help=help_text, description=DESCRIPTIONS[name], epilog=epilog(name),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
        _shared(made, root=False, outputs=OUTPUTS[name])
        return made

    plan = command("plan", "show what would change for a target")
    plan.add_argument("--target", required=True, action=_Once, help=TARGET_HELP)
    plan.add_argument("--out", dest="out", metavar="FILE",
                      help="save the plan for `apply FILE` (terraform's -out=FILE is accepted)")
    apply = command("apply", "make the changes for a target (or a saved plan), then verify")
    apply.add_argument("plan_file", nargs="?", metavar="FILE", help="a plan saved by `plan --out FILE`")
    apply.add_argument("--target", action=_Once, help=TARGET_HELP)
    apply.add_argument("--auto-approve", action="store_true", help="do not ask; required when not on a terminal")
    sweep = command("sweep", "plan (or with --apply reconcile) everything in REMEDIATION_SCOPE")
    mode = sweep.add_mutually_exclusive_group()
    mode.add_argument("--apply", action="store_true", help="make the changes (asks, like apply)")
    mode.add_argument("--dry-run", action="store_true", help="plan only: the default, kept for scripts")
    sweep.add_argument("--auto-approve", action="store_true", help="with --apply: do not ask")
    sweep.add_argument("--destroy", action="store_true",
                       help="plan the removal of everything this tool owns in scope (with --apply: remove it)")
    prepare = command("prepare-subnet", "route a subnet through the firewall before a userDefinedRouting "
                                        "cluster exists")
    prepare.add_argument("--subnet", required=True, help="the subnet id")
    prepare.add_argument("--dry-run", action="store_true", help="plan only")
    prepare.add_argument("--auto-approve", action="store_true", help="do not ask; required when not on a terminal")
    status = command("status", "compliance of every cluster in scope")
    status.add_argument("--verify", action="store_true",
                        help="confirm each node subnet's computed routes with ARM's effective route table of one of "
                             "its NICs (as VERIFY_EFFECTIVE_ROUTES=true; docs/platform-notes.md 11.2)")
    command("owned", "list every object this tool owns in REMEDIATION_SCOPE (reads only)")
    export = command("export", "write the estate in REMEDIATION_SCOPE as an emulator seed (reads only)")
    export.add_argument("--out", dest="out", metavar="FILE",
                        help="write the seed to FILE (else to stdout); then `--emulator-seed FILE plan ...`")
    show = command("show", "render a plan saved by `plan --out FILE` (reads no Azure)")
    show.add_argument("plan_file", metavar="FILE", help="a plan saved by `plan --out FILE`")
    sub.add_parser("emulator", add_help=False, help="serve the local ARM emulator (see emulator/README.md)")
    return parser


# terraform spellings with a value (`-target=ID` or `-target ID`) and flags; all become `--name`.
TERRAFORM = frozenset({"target", "out", "auto-approve", "detailed-exitcode", "no-color"})


def long_options(parser: argparse.ArgumentParser) -> frozenset[str]:
    """Every `--name` the root parser or a subcommand takes, without the dashes."""
    names: set[str] = set()
    parsers = [parser]
    for action in parser._actions:  # argparse keeps its options here; there is no public accessor
        if isinstance(action, argparse._SubParsersAction):
            parsers.extend(action.choices.values())
    for each in parsers:
        for action in each._actions:
            names.update(s[2:] for s in action.option_strings if s.startswith("--"))
    return frozenset(names)


def terraform_spellings(argv: Sequence[str], known: frozenset[str]) -> list[str]:
    """`-target=ID` -> `--target=ID`, `-auto-approve` -> `--auto-approve`, ... up to a `--` separator."""
    out: list[str] = []
    for index, arg in enumerate(argv):
        if arg == "--":
            return [*out, *argv[index:]]
        name = arg[1:].split("=", 1)[0]
        if arg.startswith("-") and not arg.startswith("--") and len(name) > 1 and (
                name in TERRAFORM or name in known):
            out.append("-" + arg)
        else:
            out.append(arg)
    return out


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(terraform_spellings(argv, long_options(parser)))
    allowed = OUTPUTS.get(args.command, ALL_OUTPUTS)
    if args.output is None:
        args.output = "json" if args.query else "text"
    if args.output not in allowed:
        parser.error(f"argument -o/--output: invalid choice: '{args.output}' for {args.command} (choose from "
                     f"{', '.join(allowed)})")
    if args.query and args.output != "json":
        parser.error(f"--query works on JSON: use -o json, not -o {args.output}")
    return args
