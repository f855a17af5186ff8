"""``funcnet tune``: the plans measured on this machine; re-measure them, or remove them."""

from __future__ import annotations

import statistics

import click

from .. import planner
from .. import report as freport
from .. import tunables  # noqa: F401 -- registers the passes it holds with the planner
from ..errors import ConfigError
from .exits import handle_errors
from .lines import echo_lines as _echo_lines


def _ms(seconds) -> tuple[str, str]:
    """(median, "min–max") of a candidate's round times, in ms; ("other bits", "") for None.

    >>> _ms([0.0131, 0.0125, 0.0142])
    ('13.10', '12.50–14.20')
    >>> _ms(None)
    ('other bits', '')
    """
    if seconds is None:
        return "other bits", ""
    return f"{1e3 * statistics.median(seconds):.2f}", f"{1e3 * min(seconds):.2f}–{1e3 * max(seconds):.2f}"


def _describers(name: str):
    """How pass ``name`` writes its candidates and keys (registered, else as JSON; as JSON
    too where its own way fails on what a plan file holds)."""
    t = planner.registered().get(name) or planner.Tunable(None, None)

    def describe(candidate, key) -> str:
        try:
            return t.describe(candidate, key)
        except Exception:  # noqa: BLE001 -- a plan of an older or other layout
            return planner.canonical(candidate)

    def describe_key(key) -> str:
        try:
            return t.describe_key(key)
        except Exception:  # noqa: BLE001
            return planner.canonical(key)

    return describe, describe_key


def plan_rows(plan: planner.Plan, every: bool) -> list[list[str]]:
    """Table rows of one stored plan: the chosen candidate (``every``: all of them, the
    chosen one marked ``*``), its median and range over the rounds and its time ×
    the default plan's."""
    describe, describe_key = _describers(plan.name)
    base = statistics.median(plan.seconds[0])
    rows = []
    for i, (cand, secs) in enumerate(zip(plan.candidates, plan.seconds)):
        if not every and i != plan.choice:
            continue
        median, spread = _ms(secs)
        ratio = f"{statistics.median(secs) / base:.2f}" if secs is not None and base > 0 else ""
        mark = "*" if every and i == plan.choice else ""
        rows.append([plan.name, describe_key(plan.key), mark + describe(cand, plan.key),
                     median, spread, ratio, plan.measured])
    return rows


def machine_lines(host: planner.Machine, path) -> list[str]:
    """Which machine the plans are this machine's, and where they are kept."""
    return [f"machine: {host.cpu} ({host.arch}, {host.cores} usable cores)",
            f"BLAS: {host.blas}, kernel {host.kernel or 'n/a'}; NumPy {host.numpy}",
            f"plan file: {path}"]


def _refresh(names, rounds: int, path) -> None:
    """Measure every default shape of the passes ``names`` and store their plans in ``path``
    (its folder made first: a folder that cannot be made fails before any measuring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        t = planner.registered()[name]
        for key in t.keys:
            click.echo(f"measuring {name} at {t.describe_key(key)}: "
                       f"{len(t.candidates(key))} plans, {rounds} rounds", err=True)
            planner.tune(name, key, rounds=rounds)


@click.command()
@click.option("--refresh", is_flag=True,
              help="Measure the plans of the registered passes again (at their default shapes) "
                   "and store them.")
@click.option("--clear", "clear_", is_flag=True,
              help="Remove this machine's plan file (before --refresh, if both are given).")
@click.option("--pass", "passes", multiple=True, metavar="NAME",
              help="Only this pass (repeatable). Default: every registered pass.")
@click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True,
              help="Alternating timed rounds per plan when measuring.")
@click.option("--all", "every", is_flag=True,
              help="Show every plan measured, not only the chosen one.")
@handle_errors
def tune(refresh, clear_, passes, rounds, every):
    """Show the plans chosen by measurement on this machine (layouts of the hot passes).

    Plans are kept in the user's cache folder ($FUNCNET_CACHE/plans, else
    the OS cache folder of funcnet), keyed by the CPU model, BLAS, kernel,
    NumPy version and cores: a plan is never used on another machine. Only
    plans that give the default plan's bits are kept. A pass that asks the
    planner measures its plan on first use unless FUNCNET_PLAN=default (the
    default plan) or =cached (stored plans only).
    """
    known = planner.registered()
    unknown = [p for p in passes if p not in known]
    if unknown:
        raise ConfigError(f"--pass {unknown[0]}: expected one of {', '.join(sorted(known))}")
    names = list(passes) or sorted(known)
    host = planner.machine()
    path = planner.plan_file(host=host)
    lines = machine_lines(host, path)
    if clear_:
        lines.append(f"removed {path}" if planner.clear(host=host) else "no plan file to remove")
    if refresh:
        _refresh(names, rounds, path)
    stored = [p for p in planner.plans(host=host) if not passes or p.name in passes]
    headers = ["pass", "shape", "plan (* chosen)" if every else "plan", "median ms",
               "min–max ms", "× default", "measured (UTC)"]
    rows = [row for p in stored for row in plan_rows(p, every)]
    lines += ["", *freport.table(headers, rows)] if rows else ["", "no plans stored for this machine"]
    done = {(p.name, planner.canonical(p.key)) for p in stored}
    missing = [f"  {n} at {known[n].describe_key(k)}" for n in names for k in known[n].keys
               if (n, planner.canonical(k)) not in done]
    if missing:
        lines += ["", "not measured yet (funcnet tune --refresh measures them):", *missing]
    _echo_lines(lines)
