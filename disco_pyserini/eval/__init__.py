"""Evaluation: runs scored with trec_eval's measures, compared with significance, fused.

:func:`~.evaluate.evaluate_run` (pytrec_eval, the DiSCo and TREC protocols, graded qrels),
:func:`~.compare.compare_runs` (paired significance, turn depth, plots) and
:func:`~.fusion.fuse_runs` (the DiSCo multi-teacher sum, RRF, interpolation). Commands:
``disco-pyserini evaluate``, ``compare``, ``fuse``. As ``pyserini.eval`` and ``pyserini.fusion``.
"""
