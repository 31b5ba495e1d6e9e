"""The ``zoo`` command line: list, train, evaluate, sample.

User errors (``ZooError``) end with one line on stderr and exit code 2; the
heavy imports (TensorFlow) happen inside the commands so ``--help`` is instant.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from zoo.errors import ZooError, suggest  # noqa: E402
from zoo.tf_start import VERBOSE_ENV, start_tensorflow  # noqa: E402


class ZooApp(typer.Typer):
    """A Typer app that turns user errors into one line and a non-zero exit."""

    def __call__(self, *args, **kwargs):
        global _ARGV
        given = kwargs.get("args", args[0] if args else None)
        _ARGV = [str(arg) for arg in (sys.argv[1:] if given is None else given)]
        try:
            return super().__call__(*args, **kwargs)
        except ZooError as error:
            print(f"zoo: error: {error}", file=sys.stderr)
            sys.exit(error.exit_code)
        except OSError as error:
            # A place that cannot be written (disk full, read-only, a file where a folder should be)
            # is the user's to fix; other OS errors are bugs and keep their traceback.
            from zoo.io import STORAGE_ERRNOS, describe_os_error, is_disk_full

            if error.errno not in STORAGE_ERRNOS:
                raise
            hint = "free some space and re-run" if is_disk_full(error) else "check the path and its permissions"
            print(f"zoo: error: {describe_os_error(error, verb='use')}; {hint}", file=sys.stderr)
            sys.exit(2)


SAMPLE_SOURCES = ("prior", "fitted")  # zoo sample --from
_ARGV: list[str] = []  # this invocation's arguments, for the command a Ctrl-C tells the user to re-run

app = ZooApp(help="Train, evaluate and compare autoencoders and VAEs.", no_args_is_help=True,
             pretty_exceptions_enable=False, add_completion=False,
             context_settings={"help_option_names": ["-h", "--help"]})


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"zoo {version('zoo')}")
        except PackageNotFoundError:  # a checkout run without installing
            print("zoo (not installed)")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print zoo's version and exit."),
          verbose: bool = typer.Option(False, "--verbose", help="Show TensorFlow's own start-up log lines.")) -> None:
    """Train, evaluate and compare autoencoders and VAEs."""
    if verbose:
        os.environ[VERBOSE_ENV] = "1"  # bench workers inherit it

RegistryOption = typer.Option(None, "--registry", help="Extra registry YAML file (also $ZOO_REGISTRY).")
DataDirOption = typer.Option(None, "--data-dir", help="Dataset folder (default $ZOO_DATA_DIR, else ~/.zoo/datasets).")


def _parse_set(assignments: list[str]) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or not field:
            raise ZooError(f"--set {assignment!r}: write SECTION.FIELD=VALUE, e.g. --set model.hidden_units=[256,256]")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ZooError(f"--set {assignment!r}: the value is not valid YAML") from None
        overrides.setdefault(section, {})[field] = value
    return overrides


def _flag_overrides(**flags: tuple[str, Any]) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    for field, (section, value) in flags.items():
        if value is not None:
            overrides.setdefault(section, {})[field] = value
    return overrides


def _registry_entry(name: str, registry: Optional[Path]):
    """The entry called ``name``, after reporting plugins that failed to load."""
    from zoo.registry import load_registry, print_warnings

    reg = load_registry(registry)
    print_warnings(reg)
    return reg.get(name)


@app.command("list")
def list_models(name: Optional[str] = typer.Argument(None, help="Show one entry in full."),
                registry: Optional[Path] = RegistryOption) -> None:
    """List registered models by family; `zoo list NAME` shows one entry in full.

    Reads the registry files only: no model class is imported (nor TensorFlow), so an entry is checked in
    full by the commands that use it, such as `zoo train`."""
    import shutil

    from zoo.registry import load_registry, print_warnings

    reg = load_registry(registry)
    print_warnings(reg)
    if name is not None:
        _print_entry(reg.get(name))
        return
    width = max(60, shutil.get_terminal_size((80, 24)).columns)
    name_width = max(len(n) for n in reg.names()) + 2
    data_width = max(len("DATASET"), *(len(str(reg.get(n).data.get("name", reg.get(n).dataset))) for n in reg.names()))
    room = width - 2 - name_width - data_width - 2
    print(f"  {'NAME':<{name_width}}{'DATASET':<{data_width}}  DESCRIPTION")
    families: dict[str, list] = {}
    for entry_name in reg.names():  # families in the order they first appear, entries in registry order
        entry = reg.get(entry_name)
        families.setdefault(entry.family or "other", []).append(entry)
    for family, entries in families.items():
        print(family)
        for entry in entries:
            dataset = entry.data.get("name", entry.dataset)
            text = entry.description if len(entry.description) <= room else entry.description[: room - 1] + "…"
            print(f"  {entry.name:<{name_width}}{dataset:<{data_width}}  {text}")
    print(f"{len(reg.names())} models; details: zoo list NAME")


def _print_entry(entry) -> None:
    """Every field of one registry entry, as written."""
    print(f"{entry.name} ({entry.family or 'other'})")
    for label, value in (("class", entry.class_path), ("paper", entry.paper), ("dataset", entry.dataset),
                         ("defined in", entry.source)):
        if value:
            print(f"  {label + ':':<12}{value}")
    if entry.description:
        print(f"  {'about:':<12}{entry.description}")
    for section in ("model", "train", "data", "evaluation"):
        values = getattr(entry, section)
        if values:
            print(f"  {section + ':':<12}" + ", ".join(f"{key}={value}" for key, value in values.items()))
    if entry.search_space:
        print(f"  {'searches:':<12}" + ", ".join(entry.search_space))
    print(f"  train it:   zoo train {entry.name}")


@app.command()
def train(
    name: str = typer.Argument(..., help="Registry name, e.g. cvae (see `zoo list`)."),
    dataset: Optional[str] = typer.Option(None, help="mnist, fashion_mnist, cartoon or folder:PATH."),
    data_dir: Optional[str] = DataDirOption,
    image_size: Optional[int] = typer.Option(None, help="Square image size for cartoon/folder datasets."),
    latent_dim: Optional[int] = typer.Option(None, help="Size of the latent code."),
    beta: Optional[float] = typer.Option(None, help="Rate weight (models with a beta field)."),
    likelihood: Optional[str] = typer.Option(None, help="bernoulli, continuous_bernoulli or gaussian."),
    binarization: Optional[str] = typer.Option(None, help="dynamic, static, none or auto."),
    epochs: Optional[int] = typer.Option(None, help="Training epochs."),
    batch_size: Optional[int] = typer.Option(None, help="Global batch size."),
    learning_rate: Optional[float] = typer.Option(None, help="Adam learning rate."),
    seed: Optional[int] = typer.Option(None, help="Seed for weights, data order, binarisation and noise."),
    kl_warmup_epochs: Optional[int] = typer.Option(None, help="Epochs over which the rate weight ramps 0 → 1."),
    early_stopping: Optional[int] = typer.Option(None, help="Patience in epochs (0: off)."),
    train_subset: Optional[int] = typer.Option(None, help="Use only this many training images."),
    labels: Optional[int] = typer.Option(None, help="Keep this many training labels, balanced over the classes; "
                                                    "the other images are unlabelled (semi-supervised models)."),
    iw_samples: Optional[int] = typer.Option(None, help="Importance samples for the test IWAE bound."),
    strategy: Optional[str] = typer.Option(None, help="auto, default, mirrored or multi-worker."),
    precision: Optional[str] = typer.Option(None, help="auto, float32 or mixed_float16."),
    out: Optional[Path] = typer.Option(None, help="Run folder (default runs/NAME-DATASET)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out where it stopped."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
    no_eval: bool = typer.Option(False, "--no-eval", help="Skip the test evaluation and figures."),
    set_: list[str] = typer.Option([], "--set", metavar="SECTION.FIELD=VALUE", help="Any config field: SECTION.FIELD=VALUE (repeatable)."),
    registry: Optional[Path] = RegistryOption,
) -> None:
    """Train a registered model and leave a run folder (checkpoints, metrics, figures, manifest)."""
    from zoo.run_dir import RunDir
    from zoo.run_spec import merge_overrides, resolve

    entry = _registry_entry(name, registry)
    start_tensorflow()
    flags = _flag_overrides(
        name=("data", dataset), data_dir=("data", data_dir), image_size=("data", image_size),
        binarization=("data", binarization), train_subset=("data", train_subset), labels=("data", labels),
        latent_dim=("model", latent_dim), beta=("model", beta), likelihood=("model", likelihood),
        epochs=("train", epochs), batch_size=("train", batch_size), learning_rate=("train", learning_rate),
        seed=("train", seed), kl_warmup_epochs=("train", kl_warmup_epochs),
        early_stopping_patience=("train", early_stopping), strategy=("train", strategy),
        precision=("train", precision), iw_samples=("evaluation", iw_samples),
    )
    if beta is not None:
        fields = entry.model_class().config_class.field_names()
        if "beta" not in fields:
            raise ZooError(f"model '{name}' has no beta; --beta applies to models such as beta_vae")
    spec = resolve(entry, merge_overrides(_parse_set(set_), flags))
    run = RunDir(out or Path("runs") / f"{name}-{spec.data.name.replace(':', '_').replace('/', '_')}")
    from zoo.training.trainer import train as run_training

    try:
        run_training(spec, run, resume=resume, overwrite=overwrite, evaluate=not no_eval)
    except KeyboardInterrupt:
        print(interrupted_line(run, spec.train.epochs), file=sys.stderr)
        raise typer.Exit(130) from None
    print(final_summary(run))


def final_summary(run) -> str:
    """The end of `zoo train`: where the run is, its headline numbers, its figures and what to run next."""
    import json
    import shlex

    lines = [f"run folder: {run.root}"]
    if run.metrics.exists():
        metrics = json.loads(run.metrics.read_text())
        numbers = [f"{label} {metrics[key]:.2f} nats" for key, label in (("elbo", "test ELBO"), ("iwae", "IWAE"))
                   if metrics.get(key) is not None]
        numbers.append(f"active units {metrics.get('active_units')}/{metrics.get('latent_dim')}")
        scores = metrics.get("disentanglement") or {}
        numbers += [f"{key} {scores[key]:.3f}" for key in ("mig", "dci_disentanglement") if key in scores]
        lines.append(f"  metrics:  {run.metrics} ({', '.join(numbers)})")
    figures = sorted(p.name for p in run.figures.glob("*.png")) if run.figures.exists() else []
    if figures:
        lines.append(f"  figures:  {run.figures}/ ({', '.join(figures)})")
    folder = shlex.quote(str(run.root))
    lines += ["  next:     zoo sample " + folder + " --n 64",
              "            zoo evaluate " + folder + " --iw-samples 5000",
              "            tensorboard --logdir " + shlex.quote(str(run.tensorboard))]
    return "\n".join(lines)


def interrupted_line(run, epochs: int) -> str:
    """What a Ctrl-C of `zoo train` kept, and the command that continues: this one (without --overwrite)."""
    import shlex

    command = shlex.join(["zoo", *[arg for arg in _ARGV if arg != "--overwrite"]])
    try:
        state = run.read_json(run.state, "") if run.state.exists() else None
    except ZooError:
        state = None
    if not state or not state.get("checkpoint"):
        return f"zoo: interrupted; nothing kept yet (no epoch had finished); start again with: {command}"
    kept = f"{run.checkpoints / state['checkpoint']}"
    if state["epoch"] >= epochs or state.get("stopped_early"):
        return (f"zoo: interrupted after training finished; kept epoch {state['epoch']} ({kept}); "
                f"evaluate with: {command}")
    return f"zoo: interrupted; kept epoch {state['epoch']} of {epochs} ({kept}); resume with: {command}"


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run folder made by `zoo train`."),
    iw_samples: Optional[int] = typer.Option(None, help="Importance samples for the IWAE bound."),
    seed: Optional[int] = typer.Option(None, help="Seed of the evaluation noise."),
    data_dir: Optional[str] = DataDirOption,
    no_figures: bool = typer.Option(False, "--no-figures", help="Only write metrics.json."),
    disentanglement: Optional[str] = typer.Option(
        None, metavar="METRICS",
        help="Data sets with factors (sprites, dsprites): all, none, or a comma list of beta_vae, factor_vae, mig, "
             "sap, dci, modularity [default: the run's config, all]."),
) -> None:
    """Evaluate a run's model on the test split: metrics.json and figures."""
    from zoo.run_dir import RunDir

    run = RunDir(run_dir)
    if not (run.exists() and run.is_zoo_run()):
        raise ZooError(f"{run_dir} is not a zoo run folder (no config.json made by zoo); pass the --out folder "
                       "of `zoo train`")
    start_tensorflow()  # before the import below loads TensorFlow
    from zoo.evaluation.runner import evaluate_run

    overrides = {key: value for key, value in (("iw_samples", iw_samples), ("seed", seed),
                                               ("disentanglement", disentanglement)) if value is not None}
    if no_figures:
        overrides["figures"] = False
    evaluate_run(run, overrides=overrides, data_overrides={"data_dir": data_dir} if data_dir else None)
    print(f"wrote {run.metrics}")


@app.command()
def sample(
    run_dir: Path = typer.Argument(..., help="A run folder made by `zoo train`."),
    n: int = typer.Option(64, "--n", min=1, help="How many samples."),
    label: Optional[int] = typer.Option(None, help="Class to sample (conditional models)."),
    seed: int = typer.Option(0, help="Sampling seed."),
    out: Optional[Path] = typer.Option(None, help="PNG path (default: in RUN/figures)."),
    source: str = typer.Option("prior", "--from", metavar="SOURCE",
                               help="Where codes come from: prior, p(z); or fitted, a full-covariance Gaussian "
                                    "fitted to the codes of 10,000 training images (reads the dataset)."),
    data_dir: Optional[str] = DataDirOption,
) -> None:
    """Decode prior samples into a PNG grid (one class with --label for conditional models).

    With --from fitted the codes come from where the encoder puts the training images: when prior samples look broken while reconstructions are good, the prior covers codes that no image uses.

    A run without model.keras (killed or diverged) is sampled from checkpoints/best.keras, with a note."""
    if source not in SAMPLE_SOURCES:
        raise ZooError(f"unknown --from {source!r}{suggest(source, SAMPLE_SOURCES)}; choose "
                       + " or ".join(SAMPLE_SOURCES))
    start_tensorflow()  # before the imports below load TensorFlow
    from zoo.evaluation.figures import class_samples, fitted_samples, prior_samples
    from zoo.evaluation.runner import load_run_model
    from zoo.run_dir import RunDir
    from zoo.run_spec import RunSpec

    run = RunDir(run_dir)
    if not (run.exists() and run.is_zoo_run()):
        raise ZooError(f"{run_dir} is not a zoo run folder (no config.json made by zoo); pass the --out folder "
                       "of `zoo train`")
    spec = RunSpec.from_dict(run.read_json(run.config, "is this a zoo run folder?"))
    model, _ = load_run_model(run, spec, data_overrides={"data_dir": data_dir} if data_dir else None,
                              doing="sampling from")
    from zoo.evaluation.runner import check_sample_label

    check_sample_label(model, label, run_dir)
    if source == "fitted":
        from zoo.data import load_dataset, resolve_binarization
        from zoo.evaluation.codes import fit_code_gaussian
        from zoo.likelihoods import is_binary

        data = load_dataset(spec.data.replace(**({"data_dir": data_dir} if data_dir else {})))
        fitted = fit_code_gaussian(model, data, resolve_binarization(spec.data.binarization,
                                                                     is_binary(model.config.likelihood)))
        kind = "fitted" if label is None else f"fitted_label_{label}"
        target = out or run.figures / f"samples_{kind}_seed{seed}.png"
        fitted_samples(model, fitted, target, count=n, seed=seed, label=label)
    elif label is None and model.is_conditional:
        target = out or run.figures / f"samples_by_class_seed{seed}.png"
        per_class = max(1, -(-n // model.config.num_classes))
        class_samples(model, target, per_class=per_class, seed=seed)
    else:
        kind = f"label_{label}" if label is not None else "prior"
        target = out or run.figures / f"samples_{kind}_seed{seed}.png"
        prior_samples(model, target, count=n, seed=seed, label=label)
    print(f"wrote {target}")


@app.command()
def tune(
    name: str = typer.Argument(..., help="Registry name whose search_space block is searched, e.g. beta_vae."),
    dataset: Optional[str] = typer.Option(None, help="mnist, fashion_mnist, cartoon or folder:PATH."),
    data_dir: Optional[str] = DataDirOption,
    tuner: str = typer.Option("hyperband", help="hyperband, bayesian or random."),
    objective: str = typer.Option("val_elbo", help="val_elbo (max), val_iwae (max) or val_distortion (min)."),
    max_trials: Optional[int] = typer.Option(None, help="Trials to run (default 10; Hyperband: a cap, default none)."),
    max_epochs: Optional[int] = typer.Option(None, help="Epochs per trial; Hyperband's largest budget "
                                                        "(default the entry's train.epochs)."),
    factor: int = typer.Option(3, help="Hyperband reduction factor."),
    initial_points: Optional[int] = typer.Option(None, help="Bayesian: random trials before the Gaussian "
                                                            "process (default 3 x searched fields)."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default tunes/NAME-DATASET)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the search in --out; finished trials are kept."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing search in --out."),
    train_subset: Optional[int] = typer.Option(None, help="Use only this many training images."),
    labels: Optional[int] = typer.Option(None, help="Keep this many training labels, balanced over the classes; "
                                                    "the other images are unlabelled (semi-supervised models)."),
    batch_size: Optional[int] = typer.Option(None, help="Global batch size."),
    seed: Optional[int] = typer.Option(None, help="Seed of the trials and of the tuner."),
    iw_samples: int = typer.Option(50, help="Importance samples k of val_iwae."),
    iw_images: int = typer.Option(1000, help="Validation images val_iwae is computed on."),
    strategy: Optional[str] = typer.Option(None, help="auto, default, mirrored or multi-worker: "
                                                      "the tf.distribute strategy of each trial."),
    precision: Optional[str] = typer.Option(None, help="auto, float32 or mixed_float16."),
    chief: Optional[str] = typer.Option(None, help="HOST:PORT: run the oracle of a distributed search here."),
    worker: Optional[str] = typer.Option(None, help="HOST:PORT of the chief: run trials for it."),
    tuner_id: Optional[str] = typer.Option(None, help="Worker id (default tuner-HOSTNAME-PID); reuse it when "
                                                      "restarting a worker."),
    set_: list[str] = typer.Option([], "--set", metavar="SECTION.FIELD=VALUE", help="Any config field: SECTION.FIELD=VALUE (repeatable)."),
    registry: Optional[Path] = RegistryOption,
) -> None:
    """Search an entry's search_space with keras-tuner; writes trials, the best entry and plots to --out."""
    from zoo.run_spec import merge_overrides

    entry = _registry_entry(name, registry)
    start_tensorflow()
    from zoo.tuning.tune import tune as run_search

    flags = _flag_overrides(
        name=("data", dataset), data_dir=("data", data_dir), train_subset=("data", train_subset),
        labels=("data", labels), batch_size=("train", batch_size), seed=("train", seed), strategy=("train", strategy),
        precision=("train", precision),
    )
    run_search(entry, merge_overrides(_parse_set(set_), flags), tuner=tuner, objective=objective,
               max_trials=max_trials,
               max_epochs=max_epochs, out=out, resume=resume, overwrite=overwrite, chief=chief, worker=worker,
               tuner_id=tuner_id, iw_samples=iw_samples, iw_images=iw_images, factor=factor,
               initial_points=initial_points)


def _csv(value: Optional[str]) -> Optional[list[str]]:
    return [item.strip() for item in value.split(",") if item.strip()] if value else None


@app.command()
def bench(
    budget: str = typer.Option("standard", help="smoke, standard, full (the quality run), registry, or a YAML "
                                                "file of budget fields."),
    models: Optional[str] = typer.Option(None, help="Comma-separated registry names (default: the budget's, "
                                                    "else every entry)."),
    datasets: Optional[str] = typer.Option(None, help="Comma-separated datasets (default: each entry's own)."),
    seeds: Optional[int] = typer.Option(None, min=1, help="Seeds per cell: 0 .. N-1 (default: the budget's)."),
    experiments: Optional[bool] = typer.Option(None, "--experiments/--no-experiments",
                                               help="Add the comparison experiments' cells (default: the budget's)."),
    force: bool = typer.Option(False, "--force", help="Rerun cells that already finished (classifiers are cached by "
                                           "their settings)."),
    out: Optional[Path] = typer.Option(None, help="Results folder (default benchmarks/results/BUDGET)."),
    work_dir: Optional[Path] = typer.Option(None, help="Run folders (default runs/bench/BUDGET)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the cells and their `zoo train` commands only."),
    report_only: bool = typer.Option(False, "--report-only",
                                     help="Run nothing: rewrite the results and figures from the cells in --out."),
    data_dir: Optional[str] = DataDirOption,
    registry: Optional[Path] = RegistryOption,
) -> None:
    """Train and score every (model, dataset, seed) under a budget; write JSON, Markdown tables and figures."""
    start_tensorflow()  # planning resolves every cell's model class
    from zoo.bench.budgets import load_budget
    from zoo.bench.runner import plan, run_bench, train_argv

    chosen = load_budget(budget)
    command = "zoo " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else f"zoo bench --budget {budget}"
    if dry_run:
        from zoo.registry import load_registry

        cells = plan(chosen, load_registry(registry), models=_csv(models), datasets=_csv(datasets), seeds=seeds,
                     experiments=experiments)
        work = work_dir or Path("runs") / "bench" / chosen.name
        for cell in cells:
            import shlex

            shown = cell.error or shlex.join(train_argv(cell, work / cell.dirname, str(registry) if registry else None))
            aliases = f" (= {', '.join(cell.aliases)})" if cell.aliases else ""
            print(f"{cell.id}{aliases}: {shown}")
        print(f"{len(cells)} cells")
        return
    outcome = run_bench(chosen, registry_file=str(registry) if registry else None, models=_csv(models),
                        datasets=_csv(datasets), seeds=seeds, experiments=experiments, force=force, out=out,
                        work=work_dir, data_dir=data_dir, command=command, report_only=report_only)
    if outcome.failed:
        print(f"zoo bench: {len(outcome.failed)} cell(s) failed: {', '.join(outcome.failed)} "
              f"(errors in {outcome.results.parent / 'results.md'})", file=sys.stderr)
        raise typer.Exit(1)


def _readable_metavars(typer_app: typer.Typer) -> None:
    """Metavars that say what to type (N, PATH, NAME) instead of Typer's Python types (<int>, <str>), and no
    metavar at all on on/off flags."""
    import inspect
    import typing

    from typer.models import ArgumentInfo, OptionInfo

    by_type = {int: "N", float: "X", Path: "PATH", bool: ""}
    callbacks = [command.callback for command in typer_app.registered_commands]
    if typer_app.registered_callback is not None:
        callbacks.append(typer_app.registered_callback.callback)
    for callback in callbacks:
        hints = typing.get_type_hints(callback)
        for parameter in inspect.signature(callback).parameters.values():
            info = parameter.default
            if not isinstance(info, (OptionInfo, ArgumentInfo)) or info.metavar is not None:
                continue
            # Optional[int] -> int, list[str] -> str
            inner = next((a for a in typing.get_args(hints[parameter.name]) if a is not type(None)),
                         hints[parameter.name])
            name = parameter.name.rstrip("_").upper()
            # An argument is named for what it is (RUN_DIR), an option's value for its type (N, PATH).
            info.metavar = name if isinstance(info, ArgumentInfo) else by_type.get(inner, name)


_readable_metavars(app)
# The help's type column repeats an argument's Python type (<str>, <path>) beside its name (NAME, RUN_DIR),
# which already says what to type, and shows <bool> for flags that take no value (--help among them).
_option_type_column = typer.core.TyperOption.display_type_rich
typer.core.TyperArgument.display_type_rich = lambda self, ctx: None
typer.core.TyperOption.display_type_rich = lambda self, ctx: None if self.is_flag else _option_type_column(self, ctx)
