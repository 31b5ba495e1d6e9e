"""What a search optimises: named validation metrics, each with an explicit direction.

- ``val_elbo``: the β = 1 ELBO on the validation split, whatever β (or KL
  warm-up weight) the trial trains with, so trials with different β compare on
  the same scale. Maximised.
- ``val_iwae``: the importance-weighted bound (Burda et al. 2015) on a fixed
  validation subset, computed at every epoch end. Maximised.
- ``val_distortion``: −log p(x|z), the reconstruction term. Minimised.

On data sets with ground-truth factors (sprites, dsprites), a disentanglement metric (maximised), computed at
every epoch end on the posterior means of held-out factor combinations (the validation split's; see
``zoo.tuning.hypermodel.ValidationDisentanglement``):

- ``mig``, ``dci`` (DCI disentanglement), ``factor_vae_score``, ``beta_vae_score``, ``sap``, ``modularity``.

The class accuracy of a conditional model's samples would need a trained
classifier to score the samples with; the zoo has none yet, so that objective is
named but refused with an explanation rather than approximated.
"""

from __future__ import annotations

from zoo.errors import ZooError, suggest

OBJECTIVES = {
    "val_elbo": ("max", "β = 1 ELBO on the validation split"),
    "val_iwae": ("max", "importance-weighted bound on a fixed validation subset"),
    "val_distortion": ("min", "reconstruction term −log p(x|z)"),
}

# objective name -> (zoo.evaluation.disentanglement metric, its headline key); all maximised.
FACTOR_OBJECTIVES = {
    "mig": ("mig", "mig"),
    "dci": ("dci", "dci_disentanglement"),
    "factor_vae_score": ("factor_vae", "factor_vae_score"),
    "beta_vae_score": ("beta_vae", "beta_vae_score"),
    "sap": ("sap", "sap"),
    "modularity": ("modularity", "modularity"),
}
OBJECTIVES.update({name: ("max", f"disentanglement metric {key} on held-out factor combinations")
                   for name, (_, key) in FACTOR_OBJECTIVES.items()})

# Named in the issue, not available: say why instead of faking it.
UNAVAILABLE = {
    "val_sample_accuracy": (
        "the class accuracy of conditional (cvae) samples needs a trained classifier to label the samples, "
        "and the zoo has no classifier yet"
    ),
}


def choices_text() -> str:
    listed = ", ".join(f"{name} ({direction})" for name, (direction, _) in OBJECTIVES.items())
    return (f"{listed}; val_sample_accuracy (class accuracy of cvae samples) is not available "
            "until the zoo has a classifier")


def check_objective(name: str, model_class=None, dataset: str | None = None, has_factors: bool | None = None) -> str:
    """Returns the direction ('max' or 'min') of ``name``; ``ZooError`` for unknown or unsupported ones.

    ``has_factors`` (with the ``dataset`` name for the message) refuses a disentanglement objective on a data
    set without ground-truth factors; None skips that check.
    """
    if name in UNAVAILABLE:
        raise ZooError(f"objective '{name}' is not available: {UNAVAILABLE[name]}; "
                       f"choose one of: {', '.join(OBJECTIVES)}")
    if name not in OBJECTIVES:
        raise ZooError(f"unknown objective '{name}'{suggest(name, [*OBJECTIVES, *UNAVAILABLE])}; "
                       f"choose one of: {choices_text()}")
    if name in FACTOR_OBJECTIVES and has_factors is False:
        raise ZooError(f"objective '{name}' needs a data set with ground-truth factors (sprites or dsprites), and "
                       f"{dataset or 'this data set'} has none; add --dataset sprites or choose val_elbo")
    # The autoencoder logs elbo = −distortion (its rate is 0), but it has no density to bound.
    if model_class is not None and not model_class.is_generative and name == "val_iwae":
        raise ZooError(f"objective '{name}' needs a density model; {model_class.__name__} defines none "
                       "(use val_distortion or val_elbo)")
    return OBJECTIVES[name][0]


def make_objective(name: str, model_class=None):
    """The ``keras_tuner.Objective`` for ``name``, with its direction."""
    import keras_tuner

    return keras_tuner.Objective(name, direction=check_objective(name, model_class))
