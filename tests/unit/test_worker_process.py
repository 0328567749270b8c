"""Settings a worker process applies to itself at start."""

from __future__ import annotations

import gc

from sync_core.worker import COLLECTOR_THRESHOLDS, tune_garbage_collector


def test_the_collector_runs_rarely_and_skips_what_was_loaded_at_start() -> None:
    before = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
        assert gc.get_freeze_count() > 0
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
