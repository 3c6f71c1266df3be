"""Distillation: training a DiSCo query encoder from the runs of rewrite teachers.

:func:`~.train.distill` is the training loop (validation, early stopping, atomic saves); its
examples, sampling and teacher scores are in :mod:`.data`, its losses in :mod:`.losses`.
Command: ``disco-pyserini distill``. Importing this package loads nothing heavy: torch loads when
training starts.
"""
