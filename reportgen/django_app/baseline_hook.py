"""A baseline before every ``migrate``: with ``reportgen.django_app`` installed and a baseline
store named (the ``REPORTGEN_BASELINE_STORE`` setting, else the environment variable of that
name), a ``pre_migrate`` receiver takes a snapshot into the store once per ``migrate`` run
that has migrations to apply.

The snapshot goes through reportgen's own read-only session, with the connection parameters
of the database being migrated; Django's connection is never used. Exact counts are bounded
by ``REPORTGEN_BASELINE_COUNT_BUDGET_S`` (default 2 s; tables beyond it keep their
estimates). ``REPORTGEN_BASELINE_KEEP`` (default 30) and ``REPORTGEN_BASELINE_KEEP_DAYS``
prune the store (never a store other users can write to: a warning says so instead). If
anything fails, ``migrate`` goes on and a warning on stderr says why: a baseline must never
stand in the way of a deploy. The store's lock is waited for ``LOCK_WAIT_S`` seconds at
most (another process holding it makes this a warning, not a hang). Test databases
(``test_`` names) are skipped.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

#: The plan last snapshotted: pre_migrate is sent once per app, each time with the same plan
#: list; holding it (not its id, which a later list could reuse) tells a new run apart.
_last_plan: list[Any] = []
#: Seconds to wait for the store's lock before giving up on the baseline.
LOCK_WAIT_S = 3.0


def take_baseline(sender: Any, using: str = "default", plan: Any = None, **kwargs: Any) -> None:
    """The ``pre_migrate`` receiver."""
    if not plan or (_last_plan and _last_plan[0] is plan):
        return
    _last_plan[:] = [plan]
    from reportgen.django_app.config import store_setting  # (lazy: Django's startup stays light)

    store = store_setting()
    if store is None:
        return
    settings_dict: dict[str, Any] = {}
    try:
        from django.db import connections

        settings_dict = connections[using].settings_dict
        if str(settings_dict.get("NAME") or "").startswith("test_"):
            return
        _snapshot(Path(store), using, settings_dict)
    except Exception as exc:  # never stop a migrate: say why instead
        from reportgen.connection import scrub

        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        password = str(settings_dict.get("PASSWORD") or "")
        print(f"reportgen: warning: no baseline taken before migrate "
              f"({scrub(message, [password] if password else [])}); migrate goes on",
              file=sys.stderr)


def _snapshot(store: Path, using: str, settings_dict: dict[str, Any]) -> None:
    from reportgen import baselines
    from reportgen.collect.run import collect_bundle
    from reportgen.django_app.config import django_dsn, setting

    t0 = time.perf_counter()
    budget = float(setting("REPORTGEN_BASELINE_COUNT_BUDGET_S", 2.0))
    bundle = collect_bundle(django_dsn(using, settings_dict), exact_counts=True,
                            count_budget_s=budget, connect_timeout_s=5)
    store = baselines.store_dir(store)
    entry = baselines.add(store, bundle, lock_timeout_s=LOCK_WAIT_S)
    problems = baselines.store_problems(store)
    if problems:
        print(f"reportgen: warning: not pruning the baseline store: {problems[0]}",
              file=sys.stderr)
    else:
        baselines.prune(store, keep=setting("REPORTGEN_BASELINE_KEEP", 30),
                        keep_days=setting("REPORTGEN_BASELINE_KEEP_DAYS"),
                        lock_timeout_s=LOCK_WAIT_S)
    print(f"reportgen: baseline before migrate: {store / entry.file} "
          f"({entry.counted} of {entry.tables} tables counted, "
          f"{time.perf_counter() - t0:.2f} s)", file=sys.stderr)
