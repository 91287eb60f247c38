"""The `qnntraps` command line: list, show and verify instances; run optimizers and report."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from pathlib import Path

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

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qnntraps")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="intra-op threads of torch and BLAS (default 1, or $OMP_NUM_THREADS when set; on a "
    "loaded machine more threads than free cores multiply wall time)",
)
def cli(threads) -> None:
    """Provably hard QNN training instances with certified global minima."""
    set_threads(threads)


def set_threads(threads: int | None) -> None:
    """One intra-op thread unless asked otherwise (--threads, or $OMP_NUM_THREADS when set)."""
    if threads is None and "OMP_NUM_THREADS" in os.environ:
        return
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads or 1)
    if "torch" in sys.modules:  # imported already (the tests, a Python caller): tell it too
        sys.modules["torch"].set_num_threads(threads or 1)


def _executor_options(command):
    """--executor and --scheduler, for run and bench (docs/scale.md)."""
    command = click.option(
        "--scheduler", metavar="tcp://HOST:PORT", help="with --executor dask: its scheduler"
    )(command)
    return click.option(
        "--executor",
        type=click.Choice(["local", "dask"]),
        default="local",
        show_default=True,
        help="dask: every chunk a task of a Dask cluster (--scheduler, or a local one of "
        "--workers processes), sealed there when the run is; the same records (docs/scale.md)",
    )(command)


_worker_timeout_option = click.option(
    "--worker-timeout",
    type=float,
    default=300.0,  # qnntraps.sealed.serve.DEFAULT_TIMEOUT (not imported here: it needs torch)
    show_default=True,
    help="seconds a sealed worker may stay silent before it counts as hung",
)


@cli.command("list")
@click.option("--family", help="only this family, e.g. construction-coupled")
@click.option("--p", "p", type=int, help="only this number of parameters")
@click.option("--tag", help="only instances with this tag, e.g. label-noise")
@click.option("--suites", is_flag=True, help="list the suites instead of the instances")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def list_command(
    family: str | None, p: int | None, tag: str | None, suites: bool, as_json: bool
) -> None:
    """List the instances (with certificate kind, L* and hit tolerance) or the suites."""
    if suites:
        _list_suites(as_json)
        return
    entries = list_instances(family=family, p=p, tag=tag)
    certificates = [load(e.id).certificate for e in entries]
    if as_json:
        rows = [
            {
                "id": e.id,
                "family": e.family,
                "p": e.p,
                "variant": e.variant,
                "tags": list(e.tags),
                "certificate_kind": c.kind,
                "global_min_value": c.global_min_value,
                "hit_tolerance": c.hit_tolerance,
                "sha256": e.sha256,
                "format_version": e.format_version,
            }
            for e, c in zip(entries, certificates, strict=True)
        ]
        click.echo(json.dumps(rows, indent=1))
        return
    width = max((len(e.id) for e in entries), default=2)
    click.echo(
        f"{'ID':<{width}}  {'family':<20}  {'p':>3}  {'variant':<10}  {'certificate':<16}  "
        f"{'L*':>12}  {'tolerance':>9}  sha256"
    )
    for e, c in zip(entries, certificates, strict=True):
        click.echo(
            f"{e.id:<{width}}  {e.family:<20}  {e.p:>3}  {e.variant or '-':<10}  {c.kind:<16}  "
            f"{c.global_min_value:>12.6g}  {c.hit_tolerance:>9.3g}  {e.sha256[:12]}"
        )
    click.echo(f"{len(entries)} instances in {data_dir()}")


def _list_suites(as_json: bool) -> None:
    from qnntraps.suites.definitions import load_suite, suite_ids

    suites = [load_suite(suite_id) for suite_id in suite_ids()]
    if as_json:
        rows = [
            {
                "id": s.id,
                "track": s.track,
                "instances": len(s.entries),
                "restarts": s.restarts,
                "ranked": s.ranked,
                "description": s.description,
                "sha256": s.sha256,
            }
            for s in suites
        ]
        click.echo(json.dumps(rows, indent=1))
        return
    click.echo(f"{'suite':<14} {'track':<9} {'instances':>9} {'restarts':>10} {'ranked':<7} about")
    for s in suites:
        about = s.description if len(s.description) <= 60 else s.description[:59] + "…"
        click.echo(
            f"{s.id:<14} {s.track:<9} {len(s.entries):>9} {s.restarts:>10} "
            f"{'yes' if s.ranked else 'no':<7} {about}"
        )


def _show_suite(suite_id: str, as_json: bool) -> None:
    from qnntraps.suites.definitions import load_suite

    suite = load_suite(suite_id)
    entries = [
        {"instance": e.instance, "restarts": e.restarts, "budget": e.budget.describe()}
        for e in suite.entries
    ]
    if as_json:
        held = suite.held_out
        click.echo(
            json.dumps(
                {
                    "id": suite.id,
                    "track": suite.track,
                    "description": suite.description,
                    "sha256": suite.sha256,
                    "budget_range": list(suite.budget_range),
                    "held_out": {
                        "description": held.description,
                        "families": list(held.families),
                        "p": list(held.p),
                        "restarts": held.restarts,
                    },
                    "entries": entries,
                },
                indent=1,
            )
        )
        return
    click.echo(f"{'suite':<14} {suite.id}")
    click.echo(f"{'track':<14} {suite.track}")
    click.echo(f"{'about':<14} {suite.description}")
    click.echo(f"{'sha256':<14} {suite.sha256}")
    low, high = suite.budget_range
    click.echo(f"{'score':<14} mean area of P(hit within b) over b in [{low:g}, {high:g}]")
    click.echo(f"{'held out':<14} {suite.held_out.description}")
    width = max(len(e["instance"]) for e in entries)
    click.echo(f"{'instance':<{width}}  {'restarts':>8}  budget per restart")
    for e in entries:
        click.echo(f"{e['instance']:<{width}}  {e['restarts']:>8}  {e['budget']}")


def _array_text(values: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(f"{v:.12g}" for v in values[:limit])
    return f"[{shown}{', ...' if values.size > limit else ''}] ({values.size})"


def _variance_info(variance) -> dict | None:
    if variance is None:
        return None
    return {
        "value": variance.value,
        "method": variance.method,
        "low": variance.low,
        "high": variance.high,
        "samples": variance.samples,
        "by_depth": None if variance.by_depth is None else variance.by_depth.tolist(),
    }


@cli.command()
@click.argument("instance_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def show(instance_id: str, as_json: bool) -> None:
    """Show an instance (shape, dataset, certificate, provenance, sha256) or a suite."""
    from qnntraps.suites.definitions import suite_ids

    if instance_id in suite_ids():
        _show_suite(instance_id, as_json)
        return
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
        "loss": instance.dataset.loss,
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
            "ladder_counts_unit": cert.ladder_counts_unit,
            "ladder_is_complete": cert.ladder_is_complete,
            "ladder_description": cert.ladder_description,
            "gradient_variance": _variance_info(cert.gradient_variance),
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
        "loss",
        "label_noise",
    ):
        click.echo(f"{key:<18} {info[key]}")
    click.echo("certificate")
    click.echo(f"  {'kind':<16} {cert.kind}")
    click.echo(f"  {'L*':<16} {cert.global_min_value:.15g}")
    click.echo(f"  {'hit tolerance':<16} {cert.hit_tolerance:.6g}")
    click.echo(f"  {'theta*':<16} {_array_text(cert.global_minimizer)}")
    click.echo(f"  {'local minima':<16} {cert.num_local_minima}")
    click.echo(f"  {'ladder':<16} {cert.ladder_description}")
    if cert.ladder_values is not None:
        click.echo(f"  {'ladder values':<16} {_array_text(cert.ladder_values)}")
        label = f"ladder counts ({cert.ladder_counts_unit})"
        click.echo(f"  {label:<16} {_array_text(cert.ladder_counts)}")
    variance = cert.gradient_variance
    if variance is not None:
        text = f"{variance.value:.6g} ({variance.method}"
        if variance.method == "sampled":
            text += f", 95% in [{variance.low:.6g}, {variance.high:.6g}], {variance.samples} points"
        click.echo(f"  {'Var dL/dtheta_0':<16} {text})")
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
    began = time.monotonic()
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
        elapsed = time.monotonic() - began
        left = elapsed / n * (len(entries) - n)
        eta = f" (ETA {left / 60:.0f} min)" if n < len(entries) and left >= 60 else ""
        click.echo(f"[{n}/{len(entries)}] {entry.id}: {status}{eta}")
    click.echo(f"{len(entries) - failures} of {len(entries)} verified")
    if failures:
        sys.exit(1)


@cli.command("run")
@click.option("--instance", "instance_ids", multiple=True, help="instance ID (repeatable)")
@click.option("--family", help="every noise-free instance of this family (see --variant, --max-p)")
@click.option("--variant", help="with --family: this variant instead, e.g. noise0.05 or flip0.1")
@click.option("--max-p", type=int, help="with --family: only instances with p <= this")
@click.option(
    "--optimizer",
    "optimizer_name",
    required=True,
    help="built-in name, entry point, or module:callable",
)
@click.option(
    "--kind",
    type=click.Choice(["batched", "torch", "scipy", "ask-tell"]),
    help="adapter for module:callable (inferred if omitted)",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="hyper-parameter (value read as JSON); repeatable",
)
@click.option(
    "--params-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON object of hyper-parameters",
)
@click.option(
    "--restarts", type=click.IntRange(min=1), required=True, help="number of seeded restarts"
)
@click.option(
    "--track",
    type=click.Choice(["exact", "gpu", "hardware"]),
    default="exact",
    show_default=True,
)
@click.option(
    "--hardware-config",
    "hardware_config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="with --track hardware: JSON file naming provider, backend, shots, seeds (docs/hardware.md)",
)
@click.option(
    "--budget",
    "budget_text",
    help="per restart: loss=N,grad=N,evals=N,wall=SECONDS,shots=N (default: the built-in's own, or "
    "loss=4000,grad=2000 for every plug-in; --track hardware needs shots=N)",
)
@click.option(
    "--chunk",
    type=click.IntRange(min=1),
    help="restarts per batch and per write (default 1000 exact, 100000 gpu, 100 hardware)",
)
@click.option(
    "--sealed/--in-process",
    "sealed",
    default=None,
    help="run the optimizer in a sealed worker process (the default for plug-ins) or in this "
    "process (the default for built-ins; never for leaderboard results)",
)
@_worker_timeout_option
@click.option(
    "--arithmetic",
    type=click.Choice(["1", "2"]),
    default="2",
    show_default=True,
    help="the oracle's product-form arithmetic: 2 the fused kernel, 1 plain torch (to repeat a "
    "run recorded before 2 existed; docs/scoring.md)",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="processes running chunks side by side (in-process runs; the same records as one)",
)
@_executor_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="results folder (resumed if it exists)",
)
def run_command(
    instance_ids,
    family,
    variant,
    max_p,
    optimizer_name,
    kind,
    params,
    params_file,
    restarts,
    track,
    hardware_config,
    budget_text,
    chunk,
    sealed,
    worker_timeout,
    arithmetic,
    workers,
    executor,
    scheduler,
    out,
) -> None:
    """Run an optimizer from seeded restarts; score every restart by its exact final loss.

    Results go to OUT/<instance ID>/ (config.json, restarts.jsonl, summary.json). Running the
    same command again resumes an interrupted run and ends with identical results. Everything
    is checked before anything is written. Plug-ins run sealed: in their own process, reaching
    the instance only through the counted oracle (docs/scoring.md).
    The hardware track estimates losses from shots on the device of --hardware-config and
    needs a shot budget (--budget shots=N); it is scored by the exact loss all the same.
    """
    with contextlib.ExitStack() as stack:
        early = None
        if sealed is not False and (sealed or ":" in optimizer_name):
            # a plug-in runs sealed: start the zygote's interpreter now, so that its imports
            # overlap ours (torch, the instance) instead of following them
            from qnntraps.sealed.zygote import Zygote

            early = stack.enter_context(Zygote())
        settings = _run_settings(
            optimizer_name, kind, params, params_file, restarts, track, hardware_config,
            budget_text, chunk, sealed, worker_timeout, int(arithmetic), workers, executor,
            scheduler,
        )  # fmt: skip
        ids = _run_ids(instance_ids, family, variant, max_p)
        executor = None
        if settings.execution_mode() == "sealed":
            from qnntraps.sealed.serve import SealedExecutor

            executor = stack.enter_context(SealedExecutor(settings.worker_timeout, early))
        for number, instance_id in enumerate(ids, 1):
            where = f"[{number}/{len(ids)}] " if len(ids) > 1 else ""
            _run_one(instance_id, settings, optimizer_name, out, executor, where)


def _run_settings(
    optimizer_name, kind, params, params_file, restarts, track, hardware_config, budget_text,
    chunk, sealed, worker_timeout, arithmetic, workers, executor="local", scheduler=None,
):  # fmt: skip
    """The run's settings from the command line, every count checked (nothing written yet)."""
    from qnntraps.harness.api import run_settings
    from qnntraps.optimizers.catalogue import parse_hyperparameters

    return run_settings(
        optimizer_name,
        restarts,
        hyperparameters=parse_hyperparameters(params, params_file),
        budget=budget_text or None,
        kind=kind,
        track=track,
        hardware=hardware_config,  # a path: read and checked there; the runner checks the track
        chunk=chunk,
        sealed=sealed,
        worker_timeout=worker_timeout,
        arithmetic=arithmetic,
        workers=workers,
        executor=executor,
        scheduler=scheduler,
    )


def _hardware(path: Path | None):
    """The device configuration of --hardware-config (checked), or None without one."""
    if path is None:
        return None
    from qnntraps.hardware.config import load_hardware_config

    return load_hardware_config(path)


def _run_one(instance_id, settings, optimizer_name, out, executor, where: str = "") -> None:
    from qnntraps.harness.api import run_with

    instance = load(instance_id)
    label = f"{where}{instance_id} · {optimizer_name}"
    with _LazyProgress(settings.restarts, label) as progress:
        result = run_with(settings, instance, out, progress, executor)
    click.echo(result.line())


class _LazyProgress:
    """A progress bar with an ETA on standard error that appears only once the run has passed
    its checks (so that a refused command prints its one-line error and nothing else), and not
    at all when standard error is not a terminal (logs and pipes stay clean). The harness
    updates it within chunks as well as after them."""

    def __init__(self, length: int, label: str):
        self.length, self.label = length, label
        self.bar = None
        self.quiet = not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            self.bar = click.progressbar(
                length=total, label=self.label, file=sys.stderr, show_eta=True, show_pos=True
            )
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _run_ids(instance_ids, family, variant, max_p) -> list[str]:
    if bool(instance_ids) == bool(family):
        raise click.UsageError("give either --instance ID (repeatable) or --family F")
    if not family and (variant or max_p):
        raise click.UsageError("--variant and --max-p go with --family")
    if instance_ids:
        return [find_entry(i).id for i in instance_ids]
    entries = [e for e in list_instances(family=family) if e.variant == variant]
    entries = [e for e in entries if max_p is None or e.p <= max_p]
    if not entries:
        raise click.UsageError(f"no instance of family {family!r} matches (see 'qnntraps list')")
    return [e.id for e in entries]


@cli.command("bench")
@click.argument("optimizer_name", metavar="OPTIMIZER")
@click.option("--suite", "suite_id", required=True, help="suite ID (qnntraps list --suites)")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="results folder (default: runs/SUITE/OPTIMIZER; resumed if it exists)",
)
@click.option("--kind", type=click.Choice(["batched", "torch", "scipy", "ask-tell"]))
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="hyper-parameter")
@click.option("--params-file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--chunk", type=click.IntRange(min=1), help="restarts per worker and per write")
@click.option(
    "--hardware-config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="for a hardware-track suite: the device (docs/hardware.md)",
)
@_worker_timeout_option
@_executor_options
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True,
    help="with --executor dask and no --scheduler: the local cluster's processes",
)  # fmt: skip
def bench_command(
    optimizer_name, suite_id, out, kind, params, params_file, chunk, hardware_config,
    worker_timeout, executor, scheduler, workers,
) -> None:  # fmt: skip
    """Run an optimizer sealed on every instance of a suite, print the table and the score.

    Every instance is an ordinary run in OUT/<instance ID>/ with the suite's restarts and budget;
    the same command resumes an interrupted bench. OUT/bench.json holds the results and the
    score, OUT/hit_rate_vs_p.png and OUT/solve_profiles.png the figures (docs/scoring.md).
    """
    from qnntraps.optimizers.catalogue import parse_hyperparameters
    from qnntraps.suites.bench import bench
    from qnntraps.suites.definitions import load_suite

    suite = load_suite(suite_id)
    overrides = parse_hyperparameters(params, params_file)
    hardware = _hardware(hardware_config)  # bench checks that the suite's track goes with it
    if out is None:
        out = Path("runs") / suite.id / re.sub(r"[^A-Za-z0-9._-]+", "_", optimizer_name)
    with _SuiteProgress(len(suite.entries)) as progress:
        result = bench(
            optimizer_name,
            suite,
            out,
            hyperparameters=overrides,
            kind=kind,
            chunk=chunk,
            worker_timeout=worker_timeout,
            hardware=hardware,
            progress=progress,
            executor=executor,
            scheduler=scheduler,
            workers=workers,
        )
    click.echo(result.table())
    for path in (out / "bench.json", *result.figures):
        click.echo(f"wrote {path}")


class _SuiteProgress:
    """One progress bar per instance of a suite, each shown once its run has passed its checks
    and labelled with its place among the suite's `count` instances."""

    def __init__(self, count: int | None = None):
        self.instance, self.bar, self.count, self.number = None, None, count, 0

    def __call__(self, instance: str, done: int, total: int) -> None:
        if instance != self.instance:
            self.__exit__(None, None, None)
            self.number += 1
            where = f"[{self.number}/{self.count}] " if self.count else f"[{self.number}] "
            self.instance, self.bar = instance, _LazyProgress(total, where + instance)
        self.bar(done, total)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
            self.bar = None


@cli.group("leaderboard")
def leaderboard_group() -> None:
    """Build, verify and render leaderboard submissions (docs/submitting.md)."""


@leaderboard_group.command("submit")
@click.argument("bench_folder", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="the submission FILE.json to write (its records go beside it, in FILE.records/)",
)  # fmt: skip
@click.option("--entry", help="the entry's name on the leaderboard (default: OPTIMIZER-SUITE)")
@click.option("--submitter", default="anonymous", show_default=True, help="who submits it")
@click.option("--description", default="", help="one paragraph on the method")
@click.option(
    "--tuning", "tuning_file", type=click.Path(dir_okay=False, path_type=Path),
    help='JSON file: {"rule": "tuned", "search_space": {...}, "trials": N, "description": ...}; '
    "default: fixed hyper-parameters",
)  # fmt: skip
def leaderboard_submit(bench_folder, out, entry, submitter, description, tuning_file) -> None:
    """Build a submission from the finished bench in DIR."""
    from qnntraps.leaderboard.submission import SubmissionError, build_submission

    tuning = None
    if tuning_file is not None:
        try:
            tuning = json.loads(tuning_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SubmissionError(
                f"--tuning {tuning_file}: not a readable JSON file ({error})"
            ) from None
    submission = build_submission(
        bench_folder, out, entry=entry, submitter=submitter, description=description,
        tuning=tuning,
    )  # fmt: skip
    score = submission.document["claims"]["score"]
    click.echo(
        f"wrote {out} (entry {submission.document['entry']}, {submission.suite.id}, score "
        f"{score['value']:.4f} [{score['interval'][0]:.4f}, {score['interval'][1]:.4f}]) and "
        f"{len(submission.claims)} record files in {out.parent / (out.stem + '.records')}"
    )


@leaderboard_group.command("verify")
@click.argument(
    "submission_files", metavar="FILE...", nargs=-1, required=True,
    type=click.Path(dir_okay=False, path_type=Path),
)  # fmt: skip
@click.option(
    "--sample", type=click.IntRange(min=1),
    help="re-run K seeded-random restarts per instance (default: every restart)",
)  # fmt: skip
@click.option("--sample-seed", type=click.IntRange(min=0), help="seed of the sample and order")
@click.option(
    "--heldout", "heldout_seed", type=click.IntRange(min=0),
    help="run fresh held-out instances generated from this seed (choose it now, tell nobody)",
)  # fmt: skip
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path),
    help="where the report goes (one FILE only; default: FILE's folder, STEM.verification.json)",
)  # fmt: skip
@_worker_timeout_option
def leaderboard_verify(submission_files, sample, sample_seed, heldout_seed, report, worker_timeout):
    """Check submissions, re-run them sealed and on held-out instances; write their reports.

    Several FILEs are verified one after the other with the same held-out instances (generated
    once); the first that fails stops the command, and the reports already written stay.
    """
    from qnntraps.leaderboard.verify import (
        VerificationError,
        default_report_path,
        verify_submission,
    )

    if report is not None and len(submission_files) > 1:
        raise VerificationError("--report names the report of one FILE; leave it out for several")
    generated: dict = {}
    for submission_file in submission_files:
        if submission_file.name.endswith(".verification.json"):
            click.echo(f"skipped {submission_file}: a verification report, not a submission")
            continue
        with _SuiteProgress() as progress:
            result = verify_submission(
                submission_file, sample=sample, sample_seed=sample_seed,
                heldout_seed=heldout_seed, report=report, worker_timeout=worker_timeout,
                progress=progress, held_out_instances=generated,
            )  # fmt: skip
        public = result.public_score
        click.echo(
            f"verified {submission_file}: {result.rerun_restarts} restarts re-run sealed (chunk "
            f"{result.chunk}, sample seed {result.sample_seed}), every record identical; public "
            f"score {public.value:.4f} [{public.low:.4f}, {public.high:.4f}]"
        )
        if result.held_out_score is not None:
            held, drop = result.held_out_score, result.drop
            click.echo(
                f"held-out (seed {result.held_out_seed}): score {held.value:.4f} "
                f"[{held.low:.4f}, {held.high:.4f}]; hits {drop.held_out_hits}/{drop.held_out_n} "
                f"against public {drop.public_hits}/{drop.public_n}, one-sided p = "
                f"{drop.p_value:.3g}" + (" — DROP FLAGGED" if drop.flagged else "")
            )
        click.echo(f"wrote {report or default_report_path(submission_file)}")


@leaderboard_group.command("render")
@click.option(
    "--folder", default=Path("leaderboard"), show_default=True,
    type=click.Path(file_okay=False, path_type=Path), help="the leaderboard folder",
)  # fmt: skip
def leaderboard_render(folder: Path) -> None:
    """Regenerate FOLDER/README.md's tables and FOLDER/index.html from FOLDER/submissions/."""
    from qnntraps.leaderboard.render import render_leaderboard

    rendered = render_leaderboard(folder)
    for track, rows in rendered.rows.items():
        if rows:
            ranked = sum(row.ranked for row in rows)
            click.echo(f"{track}: {len(rows)} entries, {ranked} ranked on held-out scores")
    click.echo(f"wrote {rendered.readme}")
    click.echo(f"wrote {rendered.page}")


@cli.command("report")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--plots/--no-plots", default=True, show_default=True, help="write PNG figures")
@click.option(
    "--log-counts", is_flag=True, help="losses figures: counts on a log axis (small ones show)"
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "ioh"]),
    default="table",
    show_default=True,
    help="ioh: also write the runs in the IOHprofiler v2 layout to -o (IOHanalyzer reads it)",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="folder of --format ioh",
)
def report_command(
    folder: Path, plots: bool, log_counts: bool, output_format: str, output: Path | None
) -> None:
    """Print the table of every run under FOLDER and write its PNG figures there."""
    from qnntraps.harness.api import report

    if (output_format == "ioh") != (output is not None):
        raise click.UsageError("--format ioh and -o OUT go together")
    result = report(folder, figures=plots, log_counts=log_counts, ioh=output)
    click.echo(result.table)
    for path in result.figures + result.ioh:
        click.echo(f"wrote {path}")


@cli.command("export")
@click.argument("instance_id")
@click.option(
    "--to",
    "target",
    type=click.Choice(["qiskit", "cirq", "qasm3"]),
    required=True,
    help="Qiskit QPY, Cirq JSON or OpenQASM 3 files",
)
@click.option(
    "-o",
    "--out",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="folder to write (created if needed)",
)
def export_command(instance_id: str, target: str, directory: Path) -> None:
    """Write an instance's circuits for another SDK, plus mapping.json (docs/exports.md)."""
    from qnntraps.export import write_export

    paths = write_export(load(instance_id), target, directory)
    click.echo(f"wrote {len(paths)} files to {directory} (mapping: {paths[0].name})")


def main() -> None:
    """Entry point: user errors print one line without a traceback and exit with status 2."""
    try:
        cli(standalone_mode=False)
    except QnnTrapsError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except OSError as error:  # a file system refusal not met where it happened
        from qnntraps.atomic import write_error

        path = error.filename or "a file"
        click.echo(f"error: {write_error(error, Path(str(path)))}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted: run the same command again to resume", err=True)
        sys.exit(130)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.UsageError as error:
        command = error.ctx.command_path if error.ctx is not None else "qnntraps"
        click.echo(f"error: {error.format_message()} (see '{command} --help')", err=True)
        sys.exit(2)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Exit as stop:
        sys.exit(stop.exit_code)


if __name__ == "__main__":
    main()
