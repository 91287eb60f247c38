"""The `qnntraps` command line: list, show and verify the frozen instances."""

from __future__ import annotations

import json
import sys

import click
import numpy as np

from qnntraps.errors import QnnTrapsError
from qnntraps.registry import (
    data_dir,
    find_entry,
    instance_path,
    list_instances,
    load,
    read_registry,
    verify_file,
)
from qnntraps.store import read_instance


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qnntraps")
def cli() -> None:
    """Provably hard QNN training instances with certified global minima."""


@cli.command("list")
@click.option("--family", help="only this family, e.g. construction-coupled")
@click.option("--p", "p", type=int, help="only this number of parameters")
@click.option("--tag", help="only instances with this tag, e.g. label-noise")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def list_command(family: str | None, p: int | None, tag: str | None, as_json: bool) -> None:
    """List the instances in the registry."""
    entries = list_instances(family=family, p=p, tag=tag)
    if as_json:
        rows = [
            {
                "id": e.id,
                "family": e.family,
                "p": e.p,
                "variant": e.variant,
                "tags": list(e.tags),
                "sha256": e.sha256,
                "format_version": e.format_version,
            }
            for e in entries
        ]
        click.echo(json.dumps(rows, indent=1))
        return
    width = max((len(e.id) for e in entries), default=2)
    click.echo(f"{'ID':<{width}}  {'family':<20}  {'p':>3}  {'variant':<10}  sha256")
    for e in entries:
        click.echo(
            f"{e.id:<{width}}  {e.family:<20}  {e.p:>3}  {e.variant or '-':<10}  {e.sha256[:12]}"
        )
    click.echo(f"{len(entries)} instances in {data_dir()}")


def _array_text(values: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(f"{v:.12g}" for v in values[:limit])
    return f"[{shown}{', ...' if values.size > limit else ''}] ({values.size})"


@cli.command()
@click.argument("instance_id")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def show(instance_id: str, as_json: bool) -> None:
    """Show an instance: shape, dataset, certificate, provenance and sha256."""
    entry = find_entry(instance_id)
    instance = load(instance_id)
    cert = instance.certificate
    info = {
        "id": instance.id,
        "file": str(instance_path(entry)),
        "sha256": entry.sha256,
        "format_version": entry.format_version,
        "num_qubits": instance.num_qubits,
        "num_parameters": instance.num_parameters,
        "num_gates": int(instance.ansatz.generators.shape[0]),
        "observable": type(instance.observable).__name__,
        "inputs": type(instance.dataset.inputs).__name__,
        "num_samples": instance.num_samples,
        "label_noise": instance.dataset.noiseless_labels is not None,
        "certificate": {
            "kind": cert.kind,
            "global_min_value": cert.global_min_value,
            "hit_tolerance": cert.hit_tolerance,
            "global_minimizer": cert.global_minimizer.tolist(),
            "num_local_minima": cert.num_local_minima,
            "method": cert.method,
            "effort": cert.effort,
            "ladder_values": None if cert.ladder_values is None else cert.ladder_values.tolist(),
            "ladder_counts": None if cert.ladder_counts is None else cert.ladder_counts.tolist(),
        },
        "provenance": {
            "family": instance.provenance.family,
            "generator_version": instance.provenance.generator_version,
            "seed": instance.provenance.seed,
            **dict(instance.provenance.parameters),
        },
    }
    if as_json:
        click.echo(json.dumps(info, indent=1))
        return
    for key in (
        "id",
        "file",
        "sha256",
        "format_version",
        "num_qubits",
        "num_parameters",
        "num_gates",
        "observable",
        "inputs",
        "num_samples",
        "label_noise",
    ):
        click.echo(f"{key:<18} {info[key]}")
    click.echo("certificate")
    click.echo(f"  {'kind':<16} {cert.kind}")
    click.echo(f"  {'L*':<16} {cert.global_min_value:.15g}")
    click.echo(f"  {'hit tolerance':<16} {cert.hit_tolerance:.6g}")
    click.echo(f"  {'theta*':<16} {_array_text(cert.global_minimizer)}")
    click.echo(f"  {'local minima':<16} {cert.num_local_minima}")
    if cert.ladder_values is not None:
        click.echo(f"  {'ladder values':<16} {_array_text(cert.ladder_values)}")
        click.echo(f"  {'ladder counts':<16} {_array_text(cert.ladder_counts)}")
    click.echo(f"  {'method':<16} {cert.method}")
    click.echo(f"  {'effort':<16} {cert.effort}")
    click.echo("provenance")
    for key, value in info["provenance"].items():
        click.echo(f"  {key:<26} {value}")


@cli.command()
@click.argument("instance_ids", nargs=-1)
@click.option("--no-regenerate", is_flag=True, help="only re-hash and read; skip regeneration")
def verify(instance_ids: tuple[str, ...], no_regenerate: bool) -> None:
    """Re-hash instance files and regenerate them to compare bytes (default: all)."""
    from qnntraps.freeze import regenerated_sha256

    entries = [find_entry(i) for i in instance_ids] if instance_ids else read_registry()
    failures = 0
    for n, entry in enumerate(entries, 1):
        try:
            read_instance(verify_file(entry))
            status = "hash ok"
            if not no_regenerate:
                same = regenerated_sha256(entry.id) == entry.sha256
                status += ", regenerated identical" if same else ", REGENERATED DIFFERS"
                failures += not same
        except QnnTrapsError as error:
            status = f"FAILED: {error}"
            failures += 1
        click.echo(f"[{n}/{len(entries)}] {entry.id}: {status}")
    click.echo(f"{len(entries) - failures} of {len(entries)} verified")
    if failures:
        sys.exit(1)


def main() -> None:
    """Entry point: user errors print one line without a traceback and exit with status 2."""
    try:
        cli(standalone_mode=False)
    except QnnTrapsError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Exit as stop:
        sys.exit(stop.exit_code)


if __name__ == "__main__":
    main()
