"""``c2vbench results ls|show``: find past runs without opening JSON files by hand."""

from __future__ import annotations

import json

import click

DEFAULT_FOLDER = "results"


@click.group("results")
def results_group() -> None:
    """Browse past result files: `results ls [DIR]` lists them, `results show RUN_ID|FILE` prints one.

    Example: c2vbench results ls results/ --dataset synthetic-motion
    """


@results_group.command("ls")
@click.argument("folders", nargs=-1)
@click.option("--plugin", default=None, help="Only runs using this plug-in (in any role).")
@click.option("--dataset", default=None, help="Only runs on this dataset.")
@click.option("--protocol", default=None, help="Only runs whose protocol hash starts with this.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def ls_command(folders: tuple[str, ...], plugin: str | None, dataset: str | None, protocol: str | None,
               as_json: bool) -> None:
    """List the runs under FOLDERS (default results/): run id, date, plug-ins, dataset, protocol, seed, metrics.

    Example: c2vbench results ls results/ --plugin tdb
    """
    from c2vbench.results.index import scan_runs

    runs, problems = scan_runs(folders or (DEFAULT_FOLDER,))
    for problem in problems:
        click.echo(f"skipped {problem}", err=True)
    for run in runs:
        for note in run.notes:
            click.echo(f"note: {note}", err=True)
    runs = [run for run in runs if run.matches(plugin, dataset, protocol)]
    if as_json:
        click.echo(json.dumps([run.to_dict() for run in runs], indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(runs)} run(s); metrics text→video unless marked V2T", title_justify="left")
    for column in ("run id", "date", "backbone · temporal · align", "dataset", "protocol", "seed", "R@1", "R@5",
                   "R@10", "MnR", "V2T R@1"):
        table.add_column(column, no_wrap=True, justify="left" if column[0].islower() else "right")
    for run in runs:
        name = f"{run.backbone} · {run.temporal} · {run.align}"
        if run.postprocess != "none":
            name += f" + {run.postprocess}"
        table.add_row(run.run_id, run.created[:16].replace("T", " "), name, run.dataset, run.protocol_hash[:8],
                      str(run.seed), *(f"{run.metrics[key]:.1f}" for key in ("t2v R@1", "t2v R@5", "t2v R@10",
                                                                              "t2v MnR", "v2t R@1")))
    console = Console()
    if not console.is_terminal:  # piped or captured: keep rows whole rather than wrapped at 80 columns
        console = Console(width=240)
    console.print(table)


@results_group.command("show")
@click.argument("reference")
@click.option("--dir", "folders", multiple=True, help="Folder to look for a run id in (default results/).")
@click.option("--json", "as_json", is_flag=True, help="Print the result file's JSON.")
def show_command(reference: str, folders: tuple[str, ...], as_json: bool) -> None:
    """Print one run's tables again: REFERENCE is a result file, or a run id (or a unique prefix of one).

    Example: c2vbench results show 3f2a9c1e0b-s0
    """
    from c2vbench.cli.run import print_outcome
    from c2vbench.results.index import find_run

    path, result = find_run(reference, folders or (DEFAULT_FOLDER,))
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    from rich.console import Console

    console = Console(soft_wrap=True)
    config = result.get("config", {})
    console.print(f"run {result.get('run_id')} · created {result.get('created')} · protocol "
                  f"{result['protocol']['hash'][:12]} · seed {config.get('seed')} · {config.get('protocol', '?')}"
                  f", {config.get('epochs', '?')} epoch(s)", highlight=False)
    training = result.get("training")
    if isinstance(training, dict) and training.get("history"):
        selection = result.get("model_selection") or {}
        console.print(f"trained {len(training['history'])} epoch(s); kept epoch {selection.get('epoch') or 'last'}"
                      f"{' (selected on ' + str(selection.get('split')) + ')' if selection.get('split') else ''}",
                      highlight=False)
    for note in result.get("notes") or []:
        console.print(f"note: {note}", highlight=False)
    from c2vbench.results.integrity import integrity_notes

    for note in integrity_notes([result]):
        click.echo(f"note: {note}", err=True)
    print_outcome(result, path, as_json=False)
