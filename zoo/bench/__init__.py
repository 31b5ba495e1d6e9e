"""``zoo bench``: train and score every model under a named budget.

- ``budgets``: ``Budget`` (epochs, subsets, k, seeds, ...), the built-in ``smoke``/``standard``/``full``
  budgets and the comparison experiments, all plain data;
- ``runner``: plans the cells, runs each in its own process, aggregates mean ± std over seeds and
  writes ``benchmarks/results/<budget>/``;
- ``worker``: one cell (or the classifier) in a fresh process;
- ``classifier``: trains and caches the classifier that scores samples (``zoo.evaluation.sample_classifier``);
- ``report`` and ``plots``: Markdown tables and figures.

The scores themselves (Fréchet distance, sample classifier, empty-cell fraction, latent sources) live in
``zoo.evaluation``; the docs pages made from the results are built by ``tools/docs/`` in the repository.
"""

from zoo.bench.budgets import BUDGETS, EXPERIMENTS, Budget, Experiment, Variant, load_budget

__all__ = ["BUDGETS", "EXPERIMENTS", "Budget", "Experiment", "Variant", "load_budget"]
