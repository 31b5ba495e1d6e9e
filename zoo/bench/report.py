"""Turns the bench's results (``results.json`` payload) into Markdown tables and cross-cell figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Collection, Mapping, Sequence

from zoo.bench import plots
from zoo.bench.budgets import EXPERIMENTS, experiment_groups, safe_name
from zoo.evaluation.disentanglement.scores import HEADLINE_KEYS as DISENTANGLEMENT_KEYS
from zoo.evaluation.latent_sources import LATENT_SOURCES

# column key -> (header, digits); values are mean ± std over seeds.
COLUMNS: dict[str, tuple[str, int]] = {
    "elbo": ("ELBO", 2),
    "distortion": ("distortion", 2),
    "rate": ("rate", 2),
    "iwae": ("IWAE", 2),
    "bits_per_dim": ("bits/dim", 4),
    "reconstruction_mse": ("recon. SSE", 2),
    "active_units": ("active units", 1),
    "latent_dim": ("latent", 0),
    "classification_error": ("test error", 4),
    "parameters": ("parameters", 0),
    "epochs": ("epochs", 0),
    "train_images": ("train images", 0),
    "train_seconds": ("train s", 0),
    "fit_seconds": ("fit s", 0),
    "eval_seconds": ("eval s", 0),
    "wall_seconds": ("cell s", 0),
    "cpu_seconds": ("CPU s", 0),
    "throughput": ("train img/s", 0),
    "peak_memory_mb": ("peak MiB", 0),
    "sample_accuracy": ("sample acc.", 3),
    "latent_empty_fraction": ("empty-cell fraction", 3),
    "code_std_mean": ("code std", 2),
    "fid_prior": ("FD p(z)", 1),
    "fid_normal": ("FD N(0, I)", 1),
    "fid_box": ("FD box", 1),
    "class_entropy_prior": ("class entropy p(z)", 2),
    "class_entropy_normal": ("class entropy N(0, I)", 2),
    "class_entropy_box": ("class entropy box", 2),
    "beta_vae_score": ("β-VAE score", 2),
    "factor_vae_score": ("FactorVAE score", 2),
    "mig": ("MIG", 3),
    "sap": ("SAP", 3),
    "dci_disentanglement": ("DCI D", 2),
    "dci_completeness": ("DCI C", 2),
    "dci_informativeness": ("DCI I", 2),
    "modularity": ("modularity", 2),
    "explicitness": ("explicitness", 2),
}
MAIN_COLUMNS = ("elbo", "distortion", "rate", "iwae", "active_units", "parameters", "train_seconds", "throughput",
                "peak_memory_mb", "fid_prior", "sample_accuracy")
# The main table split in two for the docs site, so that each fits a 1280 px page.
QUALITY_COLUMNS = ("elbo", "distortion", "rate", "iwae", "active_units", "fid_prior", "sample_accuracy")
COST_COLUMNS = ("parameters", "train_seconds", "throughput", "peak_memory_mb")
# Columns measured in nats per test image: their headers say so.
NATS = frozenset({"elbo", "distortion", "rate", "iwae"})


def _spread_digits(std: float | None, digits: int) -> int:
    """Decimals that the spread supports: its first significant digit, or its first two when they start with
    1 or 2 (the usual rule, as 0.14 rounded to 0.1 would lose a third of it). Fewer than ``digits`` for a wide
    spread, up to two more for a narrow one, so that a small spread does not print as ± 0.00."""
    if not std or not math.isfinite(std):
        return digits
    exponent = math.floor(math.log10(abs(std)))
    leading = int(abs(std) / 10.0 ** exponent)
    return max(0, min(digits + 2, (1 if leading <= 2 else 0) - exponent))


def fmt(stat: Mapping[str, Any] | None, digits: int = 2, by_spread: bool = False) -> str:
    """``mean ± std`` (just the mean for one seed; an en dash when there is no number). ``by_spread``: rounded
    to what the std supports (``_spread_digits``; one seed: ``digits``), and no decimals at or above 1,000."""
    if not stat or stat.get("mean") is None:
        return "–"
    mean, std = stat["mean"], stat.get("std")
    if by_spread:
        digits = 0 if abs(mean) >= 1000 else _spread_digits(std, digits)
    if digits == 0 and abs(mean) >= 1:
        text = f"{mean:,.0f}"
        return text if std is None else f"{text} ± {std:,.0f}"
    text = f"{mean:.{digits}f}"
    return text if std is None else f"{text} ± {std:.{digits}f}"


def header_of(key: str, group_or_payload: Mapping[str, Any] | None = None) -> str:
    header = COLUMNS[key][0]
    if key == "iwae" and group_or_payload and group_or_payload.get("budget"):
        header += f", k = {group_or_payload['budget']['iw_samples']}"
    return header + (" (nats)" if key in NATS else "")


def seeds_cell(group: Mapping[str, Any]) -> str:
    text = f"{group['n_ok']}/{group['n_ok'] + group['n_failed']}"
    return text + (" ⚠" if group["n_failed"] else "")


def group_table(groups: Sequence[Mapping[str, Any]], columns: Sequence[str], payload: Mapping[str, Any] | None = None,
                name_column: str = "model", dataset_column: bool = True, by_spread: bool = False,
                max_columns: int | None = None) -> str:
    """A Markdown table of groups, one row each: name, data set (unless ``dataset_column`` is False), seeds and
    ``columns``. ``max_columns``: more metric columns than this make several tables (the name and seeds
    repeated in each), so that none is wider than a page."""
    if max_columns and len(columns) > max_columns:
        count = -(-len(columns) // max_columns)  # as few tables as fit, with columns shared out evenly
        size = -(-len(columns) // count)
        return "\n\n".join(group_table(groups, columns[i:i + size], payload, name_column, dataset_column, by_spread)
                            for i in range(0, len(columns), size))
    fixed = [name_column, *(["dataset"] if dataset_column else []), "seeds ok"]
    head = [*fixed, *(header_of(c, payload) for c in columns)]
    align = ["---"] * (len(fixed) - 1) + ["---:"] * (1 + len(columns))
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"]
    for group in groups:
        values = [fmt(group["metrics"].get(c), COLUMNS[c][1], by_spread) if group["n_ok"] else "failed"
                  for c in columns]
        name = f"`{group['variant']}`" if name_column == "model" else group["label"]
        lines.append("| " + " | ".join([name, *([group["dataset"]] if dataset_column else []), seeds_cell(group),
                                        *values]) + " |")
    return "\n".join(lines)


def failures_table(payload: Mapping[str, Any]) -> str | None:
    failed = [c for c in payload["cells"] if c.get("status") != "ok"]
    if not failed:
        return None
    lines = ["| cell | status | error |", "| --- | --- | --- |"]
    for cell in failed:
        error = str(cell.get("error", "")).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{cell['id']}` | {cell.get('status')} | {error} |")
    return "\n".join(lines)


def classifier_table(payload: Mapping[str, Any]) -> str | None:
    classifiers = payload.get("classifiers") or {}
    if not classifiers:
        return None
    lines = ["| dataset | test accuracy | epochs | training images | parameters | FD floor: training vs test images (N) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for dataset, record in classifiers.items():
        if record.get("status") != "ok":
            lines.append(f"| {dataset} | failed: {record.get('error')} | | | | |")
            continue
        lines.append(f"| {dataset} | {record['test_accuracy']:.4f} | {record['epochs']} | {record['train_images']:,} "
                     f"| {record['parameters']:,} | {record['fid_train_vs_test']:.2f} ({record['fid_samples']:,}) |")
    return "\n".join(lines)


def budget_sentence(payload: Mapping[str, Any]) -> str:
    budget = payload["budget"]
    parts = [f"{budget['epochs']} epochs" if budget["epochs"] else "the registry's epochs",
             f"{budget['train_subset']:,} training images" if budget["train_subset"] else "all training images",
             f"{budget['validation_size']:,} validation images",
             f"{budget['test_subset']:,} test images" if budget["test_subset"] else "the whole test set",
             f"IWAE k = {budget['iw_samples']}", f"{budget['seeds']} seed(s)",
             f"Fréchet distances from {budget['fid_samples']:,} samples"]
    text = "Budget `" + budget["name"] + "`: " + ", ".join(parts) + "."
    overrides = budget.get("overrides") or {}
    if overrides:
        described = []
        for variant, sections in overrides.items():
            fields = ", ".join(f"{s}.{k} = {v}" for s, values in sections.items() for k, v in values.items())
            described.append(f"`{variant}`: {fields}")
        text += " Per-variant overrides: " + "; ".join(described) + "."
    return text


# Beyond this many distinct commands (or commits) the provenance box summarises them: a box that lists twenty
# commands is not read, and each cell's result.json names its own.
LISTED_AT_MOST = 3


def _short_commit(commit: str) -> str:
    return commit[:7] + ("-dirty" if commit.endswith("-dirty") else "")


def provenance(payload: Mapping[str, Any], cell_ids: Collection[str] | None = None) -> str:
    """Which command(s) computed the cells, when, on what machine and software; with ``cell_ids``, only those
    cells (a page that shows a few of them names their commands, not every command of the budget)."""
    machine = payload["machine"]
    versions = machine.get("versions") or {}
    cells = [c for c in payload["cells"] if cell_ids is None or c["id"] in cell_ids]
    done = sorted((c for c in cells if c.get("status") == "ok"), key=lambda c: str(c.get("created") or ""))
    runs: dict[str, list[str]] = {}
    for cell in done:
        runs.setdefault((cell.get("command") or {}).get("bench") or payload["command"], []).append(
            str(cell.get("created") or "")[:10])
    if len(runs) > LISTED_AT_MOST:
        days = sorted(d for dates in runs.values() for d in dates if d)
        when = "" if not days else f" on {days[0]}" if days[0] == days[-1] else f" from {days[0]} to {days[-1]}"
        made = (f"Produced by {len(runs)} runs of `zoo bench --budget {payload['budget']['name']}`{when} "
                f"({len(done)} cells; each cell's `result.json` names its command)")
    elif runs:
        described = []
        for command, dates in runs.items():
            days = sorted(d for d in dates if d)
            when = days[0] if days and days[0] == days[-1] else (f"{days[0]} to {days[-1]}" if days else "?")
            described.append(f"`{command}` on {when} ({len(dates)} cell{'s' if len(dates) != 1 else ''})")
        made = "Produced by " + "; ".join(described)
    else:
        made = f"Produced by `{payload['command']}` on {payload['finished'][:10]}"
    longest = max((i for i in payload.get("invocations") or [] if i.get("ran")),
                  key=lambda i: len(i["ran"]), default=None)
    if longest and cell_ids is None:  # that run's wall time also covers cells outside a subset
        made += (f"; the run that computed {len(longest['ran'])} of them took {longest['wall_seconds'] / 60:.0f} min "
                 "of wall time")
    cpu = sum(c.get("cpu_seconds") or 0.0 for c in cells) / 60
    wall = sum(c.get("process_seconds") or c.get("wall_seconds") or 0.0 for c in cells) / 60
    # The cells name the code that trained them (oldest first, as `done`); the report's commit gathered them.
    trained = list(dict.fromkeys(_short_commit(str(c["git_commit"])) for c in done if c.get("git_commit")))
    if len(trained) > LISTED_AT_MOST:
        code = f"cells trained at {len(trained)} commits, `{trained[0]}` (oldest) to `{trained[-1]}`, gathered at "
    elif trained:
        code = f"cells trained at git {', '.join(f'`{commit}`' for commit in sorted(trained))}, gathered at "
    else:
        code = "git "
    gathered = _short_commit(str(machine.get("git_commit") or "?"))
    return (f"{made}, on {machine['platform']} with {machine['cpus']} CPUs (shared with other jobs): "
            f"{wall:.0f} min of cell wall time, {cpu:.0f} min of CPU time; {code}`{gathered}`, "
            f"Python {machine['python']}, TensorFlow {versions.get('tensorflow')}, "
            f"TFP {versions.get('tensorflow-probability')}, Keras {versions.get('keras')}.")


NOTES = (
    "Numbers are the mean ± sample standard deviation (ddof = 1) over the seeds that finished; `seeds ok` "
    "counts them, and ⚠ marks a group with failed seeds (listed below). ELBO, distortion "
    "(−E_q log p(x|z)), rate (KL) and the IWAE bound are in nats per test image; Bernoulli models are scored "
    "on the fixed binarisation of the test images, so their numbers compare with each other only. FD is the "
    "Fréchet distance between the bench classifier's features of generated images and of test images "
    "(lower is better); sample acc. is that classifier's accuracy on class-conditional samples against the "
    "requested class. Times are wall seconds on a shared machine (CPU seconds are in results.json); "
    "throughput is training images per second of `fit` (validation included); peak memory is the cell "
    "process's maximum resident set size."
)


def markdown(payload: Mapping[str, Any]) -> str:
    groups = payload["groups"]
    lines = [f"# zoo bench: budget `{payload['budget']['name']}`", "", provenance(payload), "",
             budget_sentence(payload), "", NOTES, "", "## All models", "",
             group_table(groups, MAIN_COLUMNS, payload), ""]
    failures = failures_table(payload)
    lines += ["## Failed cells", "", failures or "None.", ""]
    stale = [c["id"] for c in payload.get("cells", []) if c.get("stale")]
    if stale:
        lines += ["## Cells from an earlier configuration", "",
                  "These cells ran under a config, samplers or bench classifier other than this budget's present "
                  "ones; their numbers stay in the tables, and `zoo bench` without `--report-only` reruns them: "
                  + ", ".join(f"`{cell}`" for cell in stale) + ".", ""]
    classifiers = classifier_table(payload)
    if classifiers:
        lines += ["## The bench's classifiers", "", classifiers, ""]
    by_key = {(g["variant"], g["dataset"]): g for g in groups}
    for experiment in payload["experiments"]:
        members = [by_key[tuple(k)] for k in experiment["groups"] if tuple(k) in by_key]
        labelled = experiment_groups(_as_experiment(experiment), members)
        lines += [f"## {experiment['title']}", "", experiment["summary"], "",
                  group_table(labelled, experiment["columns"], payload, name_column="variant"), ""]
        for figure in payload.get("figures", []):
            if figure.get("experiment") == experiment["id"]:
                lines.append(f"- [{figure['title']}]({figure['path']})")
        lines.append("")
    lines += ["## Cross-model figures", ""]
    lines += [f"- [{f['title']}]({f['path']})" for f in payload.get("figures", []) if not f.get("experiment")]
    lines += ["", "## Cells", "", "| cell | status | ELBO | FD p(z) | cell s | CPU s | peak MiB | run figures |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for cell in payload["cells"]:
        metrics = cell.get("metrics") or {}
        fid = ((cell.get("samples") or {}).get("prior") or {}).get("fid")
        figures = f"[figures]({cell['result_dir']}/figures/)" if cell.get("status") == "ok" else ""
        lines.append("| " + " | ".join([
            f"`{cell['id']}`", cell.get("status", "?"),
            f"{metrics['elbo']:.2f}" if metrics.get("elbo") is not None else "–",
            f"{fid:.1f}" if fid is not None else "–",
            f"{cell['wall_seconds']:.0f}" if cell.get("wall_seconds") is not None else "–",
            f"{cell['cpu_seconds']:.0f}" if cell.get("cpu_seconds") is not None else "–",
            f"{cell['peak_memory_mb']:.0f}" if cell.get("peak_memory_mb") is not None else "–",
            figures]) + " |")
    lines += ["", "Each cell's `result.json` holds its exact `zoo train` command, package versions, dataset "
              "checksums, KL per dimension and sampler scores.", ""]
    return "\n".join(lines)


def display_label(group: Mapping[str, Any]) -> str:
    """``beta_vae (β-VAE, β = 4)`` for a registry cell that an experiment also names; else its own label."""
    others = [label for key, label in (group.get("labels") or {}).items() if key != group["variant"]]
    return f"{group['variant']} ({others[0]})" if others else group["label"]


def _as_experiment(record: Mapping[str, Any]):
    return next(e for e in EXPERIMENTS if e.id == record["id"])


# ---------------------------------------------------------------- figures


def write_figures(out: Path, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Draws the cross-cell plots into ``out/figures``; returns what was drawn (path relative to ``out``)."""
    try:
        from zoo.data.sources import CLASS_NAMES
    except ImportError:  # pragma: no cover
        CLASS_NAMES = {}
    # Plot legends: the registry name, with the experiment's name for the same cell when it has one.
    groups = [{**g, "label": display_label(g)} for g in payload["groups"] if g["n_ok"]]
    folder = out / "figures"
    for stale in folder.glob("*.png"):
        stale.unlink()
    drawn: list[dict[str, Any]] = []

    def add(kind, path, title, **extra):
        drawn.append({"kind": kind, "path": str(path.relative_to(out)), "title": title, **extra})

    datasets = list(dict.fromkeys(g["dataset"] for g in groups))
    sweep = next((e for e in EXPERIMENTS if "rate_distortion" in e.plots), None)
    for dataset in datasets:
        members = [g for g in groups if g["dataset"] == dataset]
        with_rate = [g for g in members if (g["metrics"].get("rate") or {}).get("mean") is not None]
        if with_rate:
            line = []
            if sweep is not None:
                line = [g["variant"] for g in experiment_groups(sweep, with_rate)]
            path = plots.rate_distortion(with_rate, folder / f"rate_distortion_{safe_name(dataset)}.png",
                                         f"{dataset}: rate vs distortion, mean ± std over seeds", line=line)
            add("rate_distortion", path, f"Rate–distortion plane, {dataset}", dataset=dataset,
                experiment=sweep.id if sweep and line else None)
        with_kl = [g for g in members if g.get("kl_per_dim_sorted")]
        if with_kl:
            path = plots.kl_per_dim(with_kl, folder / f"kl_per_dim_{safe_name(dataset)}.png",
                                    f"{dataset}: KL per latent dimension (mean over seeds)")
            kl_experiment = next((e.id for e in EXPERIMENTS if "kl_per_dim" in e.plots), None)
            add("kl_per_dim", path, f"KL per dimension, {dataset}", dataset=dataset, experiment=kl_experiment)
        with_fid = [g for g in members if (g["metrics"].get("fid_prior") or {}).get("mean") is not None]
        if with_fid:
            floor = ((payload.get("classifiers") or {}).get(dataset) or {}).get("fid_train_vs_test")
            path = plots.fid_prior(with_fid, folder / f"fid_prior_{safe_name(dataset)}.png",
                                   f"{dataset}: sample quality of every model's prior", floor=floor)
            add("fid_prior", path, f"Fréchet distance of prior samples, {dataset}", dataset=dataset)
    for experiment in EXPERIMENTS:
        if "fid_by_source" not in experiment.plots:
            continue
        members = [g for g in experiment_groups(experiment, groups)
                   if any((g["metrics"].get(f"fid_{s}") or {}).get("mean") is not None for s in LATENT_SOURCES)]
        if members:
            path = plots.fid_by_source(members, folder / f"fid_by_source_{experiment.id}.png",
                                       "Fréchet distance of decoded samples by where z comes from (mean ± std)")
            add("fid_by_source", path, f"Fréchet distance by latent source ({experiment.title})",
                experiment=experiment.id)
    for experiment in EXPERIMENTS:
        if "disentanglement_spread" not in experiment.plots:
            continue
        members = experiment_groups(experiment, groups)
        keys = [key for key in experiment.columns if key in DISENTANGLEMENT_KEYS]
        if members and any((g["metrics"].get(key) or {}).get("mean") is not None for g in members for key in keys):
            per_seed: dict[str, list[dict[str, Any]]] = {}
            for record in payload["cells"]:
                if record.get("status") == "ok":
                    scores = record.get("disentanglement") or {}
                    for variant in (record["variant"], *record.get("aliases", ())):
                        per_seed.setdefault(variant, []).append(scores)
            path = plots.disentanglement_spread(members, per_seed, keys, {k: COLUMNS[k][0] for k in keys},
                                                folder / f"disentanglement_spread_{experiment.id}.png",
                                                f"{experiment.title}: each seed (dots) and the mean (bars)")
            add("disentanglement_spread", path, f"Spread of the disentanglement metrics ({experiment.title})",
                experiment=experiment.id)
    accuracy_experiment = next((e.id for e in EXPERIMENTS if "class_accuracy" in e.plots), None)
    for group in groups:
        if group.get("per_class_accuracy"):
            names = CLASS_NAMES.get(group["dataset"], ())
            path = plots.class_accuracy(group, folder / f"class_accuracy_{safe_name(group['variant'])}--"
                                                        f"{safe_name(group['dataset'])}.png",
                                        f"{group['label']} on {group['dataset']}: classifier accuracy on "
                                        "samples of each requested class", class_names=names)
            add("class_accuracy", path, f"Per-class sample accuracy, {group['label']} on {group['dataset']}",
                variant=group["variant"], dataset=group["dataset"], experiment=accuracy_experiment)
    return drawn
