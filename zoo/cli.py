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

from zoo.errors import ZooError  # noqa: E402


class ZooApp(typer.Typer):
    """A Typer app that turns user errors into one line and a non-zero exit."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except ZooError as error:
            print(f"zoo: error: {error}", file=sys.stderr)
            sys.exit(error.exit_code)


app = ZooApp(help="Train, evaluate and compare autoencoders and VAEs.", no_args_is_help=True,
             pretty_exceptions_enable=False, add_completion=False)

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


def _merge(*layers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for section, values in layer.items():
            merged.setdefault(section, {}).update(values)
    return merged


def _registry_entry(name: str, registry: Optional[Path]):
    """The entry called ``name``, after reporting plugins that failed to load."""
    from zoo.registry import load_registry, print_warnings

    reg = load_registry(registry)
    print_warnings(reg)
    return reg.get(name)


@app.command("list")
def list_models(registry: Optional[Path] = RegistryOption) -> None:
    """List registered models: name, class, default dataset and key defaults."""
    from zoo.registry import load_registry, print_warnings
    from zoo.run_spec import resolve

    reg = load_registry(registry)
    print_warnings(reg)
    for name in reg.names():
        entry = reg.get(name)
        try:
            spec = resolve(entry)
            model = spec.model_config(spec.data.expected_image_shape, spec.data.expected_num_classes)
            details = (f"latent={model.latent_dim} {model.architecture} {model.likelihood}"
                       + (f" beta={model.beta}" if hasattr(model, "beta") else ""))
            print(f"{name:<18} {entry.class_path:<42} {spec.data.name:<14} {details}")
        except ZooError as error:
            print(f"{name:<18} {entry.class_path:<42} INVALID: {error}")


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
    iw_samples: Optional[int] = typer.Option(None, help="Importance samples for the test IWAE bound."),
    strategy: Optional[str] = typer.Option(None, help="auto, default, mirrored or multi-worker."),
    precision: Optional[str] = typer.Option(None, help="auto, float32 or mixed_float16."),
    out: Optional[Path] = typer.Option(None, help="Run folder (default runs/NAME-DATASET)."),
    resume: bool = typer.Option(False, help="Continue the run in --out where it stopped."),
    overwrite: bool = typer.Option(False, help="Replace an existing run folder."),
    no_eval: bool = typer.Option(False, "--no-eval", help="Skip the test evaluation and figures."),
    set_: list[str] = typer.Option([], "--set", help="Any config field: SECTION.FIELD=VALUE (repeatable)."),
    registry: Optional[Path] = RegistryOption,
) -> None:
    """Train a registered model and leave a run folder (checkpoints, metrics, figures, manifest)."""
    from zoo.run_dir import RunDir
    from zoo.run_spec import resolve

    entry = _registry_entry(name, registry)
    flags = _flag_overrides(
        name=("data", dataset), data_dir=("data", data_dir), image_size=("data", image_size),
        binarization=("data", binarization), train_subset=("data", train_subset),
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
    spec = resolve(entry, _merge(_parse_set(set_), flags))
    run = RunDir(out or Path("runs") / f"{name}-{spec.data.name.replace(':', '_').replace('/', '_')}")
    from zoo.training.trainer import train as run_training

    run_training(spec, run, resume=resume, overwrite=overwrite, evaluate=not no_eval)
    print(f"run folder: {run.root}")


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run folder made by `zoo train`."),
    iw_samples: Optional[int] = typer.Option(None, help="Importance samples for the IWAE bound."),
    seed: Optional[int] = typer.Option(None, help="Seed of the evaluation noise."),
    data_dir: Optional[str] = DataDirOption,
    no_figures: bool = typer.Option(False, "--no-figures", help="Only write metrics.json."),
) -> None:
    """Evaluate a run's model on the test split: metrics.json and figures."""
    from zoo.evaluation.runner import evaluate_run
    from zoo.run_dir import RunDir

    run = RunDir(run_dir)
    if not run.exists():
        raise ZooError(f"{run_dir} is not a zoo run folder (no config.json); pass the --out folder of `zoo train`")
    overrides = {key: value for key, value in (("iw_samples", iw_samples), ("seed", seed)) if value is not None}
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
) -> None:
    """Decode prior samples into a PNG grid (one class with --label for conditional models)."""
    from zoo.evaluation.figures import class_samples, prior_samples
    from zoo.run_dir import RunDir
    from zoo.run_spec import RunSpec
    from zoo.training.trainer import load_model

    run = RunDir(run_dir)
    if not run.model.exists():
        raise ZooError(f"{run_dir} has no model.keras; train it first with `zoo train ... --out {run_dir}`")
    spec = RunSpec.from_dict(run.read_json(run.config, "is this a zoo run folder?"))
    model = load_model(run.model, spec.class_path)
    if label is not None and not 0 <= label < max(model.config.num_classes, 1):
        raise ZooError(f"--label {label} is out of range; this model has classes 0-{model.config.num_classes - 1}")
    if label is not None and not model.is_conditional:
        raise ZooError(f"--label needs a conditional model such as cvae; {run_dir} holds {type(model).__name__}")
    if label is None and model.is_conditional:
        target = out or run.figures / "samples-by-class.png"
        per_class = max(1, -(-n // model.config.num_classes))
        class_samples(model, target, per_class=per_class, seed=seed)
    else:
        target = out or run.figures / (f"samples-label-{label}.png" if label is not None else "samples-prior.png")
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
    resume: bool = typer.Option(False, help="Continue the search in --out; finished trials are kept."),
    overwrite: bool = typer.Option(False, help="Replace an existing search in --out."),
    train_subset: Optional[int] = typer.Option(None, help="Use only this many training images."),
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
    set_: list[str] = typer.Option([], "--set", help="Any config field: SECTION.FIELD=VALUE (repeatable)."),
    registry: Optional[Path] = RegistryOption,
) -> None:
    """Search an entry's search_space with keras-tuner; writes trials, the best entry and plots to --out."""
    from zoo.tuning.tune import tune as run_search

    entry = _registry_entry(name, registry)
    flags = _flag_overrides(
        name=("data", dataset), data_dir=("data", data_dir), train_subset=("data", train_subset),
        batch_size=("train", batch_size), seed=("train", seed), strategy=("train", strategy),
        precision=("train", precision),
    )
    run_search(entry, _merge(_parse_set(set_), flags), tuner=tuner, objective=objective, max_trials=max_trials,
               max_epochs=max_epochs, out=out, resume=resume, overwrite=overwrite, chief=chief, worker=worker,
               tuner_id=tuner_id, iw_samples=iw_samples, iw_images=iw_images, factor=factor,
               initial_points=initial_points)
