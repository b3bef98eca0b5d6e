"""``python -m tools.chaos [SOURCE | --defaults]`` lists; ``python -m tools.chaos --run <stack>/<experiment>`` runs.

Listing reads ``SOURCE`` (a synth output dir, default the environment's: ``cdktf.out``, or
``cdktf.out.<environment>``; synthesized with the current settings first when it holds no
stack, as ``make cost`` does), or with ``--defaults``
a synth of the embedded defaults. Running talks to the account and region of the current
settings (the emulator when ``emulator_endpoint`` is set); the exit codes are
:class:`tools.chaos.runner.ExitCode`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from modules.config import Settings, SettingsError, load_settings
from modules.policy.document import StackDocument, load_outdir
from tools.chaos import listing
from tools.chaos.progress import Display, display_for
from tools.chaos.runner import (
    ExitCode,
    Interrupts,
    Options,
    Run,
    RunError,
    alarm_states,
    find_template,
    follow,
    load_template,
    preflight,
    start,
)
from tools.deploy.clients import aws_client
from tools.synth_output import current_outdir


def _stacks(source: Path, defaults: bool) -> tuple[list[StackDocument], str]:
    if defaults:
        from tools.default_synth import default_stacks

        return default_stacks(), "the embedded defaults"
    docs = load_outdir(str(source))
    if not docs:
        from modules.app import synth

        print(f"no stacks under {source}: synthesizing the current settings first", file=sys.stderr)
        synth(load_settings(), source)
        docs = load_outdir(str(source))
    return docs, str(source)


def run(
    name: str, settings: Settings, options: Options, display: Display, interrupts: Interrupts | None = None
) -> ExitCode:
    """Find, check, start and follow one experiment; raises :class:`RunError` before a start.

    ``interrupts``: the signal flags the command line installs (a caller on another thread,
    which cannot take signals, leaves it out: nothing but the timeout stops its run)."""
    fis, cloudwatch = aws_client("fis", settings), aws_client("cloudwatch", settings)
    where = f"emulator {settings.emulator_endpoint}" if settings.emulated else "AWS"
    scope = {"project": settings.project, "environment": settings.environment}
    template = load_template(fis, find_template(fis, name, scope), name)
    states = alarm_states(cloudwatch, template.alarms)
    problems = preflight(template, states)
    if problems:
        raise RunError(f"{name}: not started: " + "; ".join(problems), ExitCode.REFUSED)
    interrupts = interrupts or Interrupts()
    if interrupts.count:
        raise RunError(f"{name}: not started: interrupted", ExitCode.STOPPED_BY_USER)
    current = Run(experiment_id=start(fis, template))
    display.note(
        f"{name}: experiment {current.experiment_id} started from template {template.id} on {where} "
        f"({settings.region}); stop alarms {', '.join(template.alarms)}. Ctrl-C stops it."
    )
    return follow(fis, cloudwatch, template, current, options, display=display, interrupts=interrupts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", help="synth output dir to list (default: the environment's, cdktf.out)")
    parser.add_argument("--defaults", action="store_true", help="list a synth of the embedded defaults")
    parser.add_argument("--run", metavar="STACK/EXPERIMENT", help="run this experiment on the settings' account")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between polls (default 5)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="stop the experiment after this many seconds")
    parser.add_argument("--stop-wait", type=float, default=300.0, help="seconds to wait for a final state after a stop")
    args = parser.parse_args(argv)
    if not args.run:
        try:
            outdir = Path(args.source) if args.source or args.defaults else current_outdir()
        except SettingsError as exc:
            print(exc, file=sys.stderr)
            return ExitCode.USAGE
        docs, source = _stacks(outdir, args.defaults)
        print(listing.render(docs, shutil.get_terminal_size((160, 24)).columns, source))
        return 0
    try:
        options = Options(poll_s=args.poll, timeout_s=args.timeout, stop_wait_s=args.stop_wait)
        interrupts = Interrupts()
        interrupts.install()  # before the start: a Ctrl-C during the call still stops what it started
        return run(args.run, load_settings(), options, display_for(sys.stdout), interrupts)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return ExitCode.USAGE
    except RunError as exc:
        print(exc, file=sys.stderr)
        return exc.code
    except (BotoCoreError, ClientError) as exc:
        print(f"{args.run}: not started: {exc}", file=sys.stderr)
        return ExitCode.USAGE


if __name__ == "__main__":
    sys.exit(main())
