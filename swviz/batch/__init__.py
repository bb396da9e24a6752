"""Batch studies: many pairs x estimators x L x repeats as tasks, in-process or on Dask.

A study is described by a small config (TOML, or YAML when PyYAML is installed; see
:func:`parse_config`), expanded into tasks ``(pair, estimator, L, chunk of repeats)`` plus one
reference task per pair, and run by one of three runners that give the same table:

* in-process (the default): a plain loop in this process, nothing to start;
* ``workers=N``: a local multi-process ``distributed.LocalCluster`` (one thread per worker);
* ``scheduler="tcp://host:8786"``: an existing Dask scheduler and its workers.

**Seeding.** Repeat ``r`` of an estimator at ``L`` on a pair draws its directions from
``numpy.random.SeedSequence(entropy=seed, spawn_key=(pair_key, pool_key, L, r))``, where
``pair_key`` is a checksum of the two shape names and ``pool_key`` one of the estimator's
declared direction pool (estimators sharing a pool, like MC and the control variates of
Nguyen & Ho, ICLR 2024, see the same directions, as in :func:`swviz.variance_study`). No
seed depends on the order of the config's lists, on the chunking or on the cluster, so the
table is identical however the work is split; only the ``seconds`` column (wall time) varies.

**Data.** The measures of each pair are built once by the caller, sent as the result of one
small task per pair and replicated to every worker once (``client.replicate``); tasks receive
them by reference. Unlike ``client.scatter``'d data, a task's result is recomputed by the
scheduler if every worker holding it dies.

**Faults.** A task that raises is caught on the worker and reported, with its pair and
parameters, in :attr:`StudyResult.failures`; the rest of the study finishes. A worker that
dies takes its running tasks with it, and the scheduler reruns them elsewhere (Dask's
``distributed.scheduler.allowed-failures``, 3 by default); their seeds come from their
coordinates, so the rerun gives the same numbers. Ctrl-C (``KeyboardInterrupt``) cancels the
pending tasks and returns what finished (:attr:`StudyResult.interrupted`).

Example
-------
>>> cfg = parse_config('pairs = [["circle", "square"]]\\nestimators = ["mc", "lcv"]\\n'
...                    'L = [16]\\nrepeats = 4\\n[measure]\\nn = 64\\n')
>>> res = run_study(cfg)
>>> res.table[["estimator", "L", "repeat"]].values.tolist()[:2]
[['mc', 16, 0], ['mc', 16, 1]]
"""

from ._config import LIBRARY_PAIRS, StudyConfig, config_from_dict, config_to_toml, load_config, parse_config
from ._run import (
    FAILURE_COLUMNS,
    RESULT_COLUMNS,
    SECONDS_PER_WORK,
    WORKER_MALLOC_THRESHOLD,
    Plan,
    Progress,
    StudyResult,
    StudyRun,
    Task,
    connect,
    pair_table,
    plan_study,
    repeat_rng,
    run_study,
    run_task,
    submit_study,
    summary_table,
    versions,
    wide_table,
)

__all__ = [
    "FAILURE_COLUMNS",
    "SECONDS_PER_WORK",
    "WORKER_MALLOC_THRESHOLD",
    "Progress",
    "config_from_dict",
    "repeat_rng",
    "run_task",
    "versions",
    "LIBRARY_PAIRS",
    "RESULT_COLUMNS",
    "Plan",
    "StudyConfig",
    "StudyResult",
    "StudyRun",
    "Task",
    "config_to_toml",
    "connect",
    "pair_table",
    "load_config",
    "parse_config",
    "plan_study",
    "run_study",
    "submit_study",
    "summary_table",
    "wide_table",
]
