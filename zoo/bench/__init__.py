"""``zoo bench``: train and score every model under a named budget, and the docs pages made from it.

- ``budgets``: ``Budget`` (epochs, subsets, k, seeds, ...), the built-in ``smoke``/``standard``/``full``
  budgets and the comparison experiments, all plain data;
- ``runner``: plans the cells, runs each in its own process, aggregates mean ± std over seeds and
  writes ``benchmarks/results/<budget>/``;
- ``worker``: one cell (or the classifier) in a fresh process;
- ``classifier``: the bench's small conv classifier, sample accuracy and the Fréchet distance;
- ``report`` and ``plots``: Markdown tables and figures; ``docs_pages``: the generated docs pages.
"""

from zoo.bench.budgets import BUDGETS, EXPERIMENTS, Budget, Experiment, Variant, load_budget

__all__ = ["BUDGETS", "EXPERIMENTS", "Budget", "Experiment", "Variant", "load_budget"]
