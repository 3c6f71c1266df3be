"""Whole experiments: a configuration runs topics, encoding, indexing, search and evaluation in order.

:func:`~.config.load_config` reads an experiment configuration (shipped ones by name, from
``disco_pyserini/configs/``); :func:`~.run.run_experiment` runs it, each stage skipped when its
artifact is up to date; :func:`~.demo.run_demo` runs the pipeline on the bundled sample.
Commands: ``disco-pyserini run`` and ``disco-pyserini demo``.

Named ``pipeline`` rather than ``experiments`` because the repository's top-level
``experiments/`` folder holds scripts (the CAsT distillation and pruning studies) that use this
package; one name for both would leave a reader guessing which is meant.
"""
