"""Support for the robustness suite and ``bench/robustness``: what the tests and the bench share.

* :mod:`~.reconcile` — after a collect or backfill against the emulator: every planned window
  stored (its values equal the fault-free answer) or recorded as failed with its reason,
  nothing stored twice, and the counts agree with the emulator's served log.
* :mod:`~.servers` — throwaway PostgreSQL clusters and Redis servers that a test may stop and
  start (never the shared ones).
* :mod:`~.soak` — concurrent API readers over real HTTP, with latencies and the server's RSS.
* :mod:`~.fuzz` — schemathesis against a running API (needs the dev tools).
"""
