"""A bounded soak on PostgreSQL: mixed API reads (raw, resampled and Arrow data, latest,
coverage, updates) from concurrent clients over real HTTP to a `gridvault serve` process while
a backfill writes through the emulator. No errors; the server's memory stays flat; p99 is
printed (never asserted: timing goals live in bench/robustness)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gridvault.pipeline.coverage import dataset_coverage
from gridvault.robustness.soak import BACKFILL, soak_while_backfilling
from gridvault.store import open_store

pytestmark = pytest.mark.usefixtures("fresh_logging")


@pytest.mark.postgres
def test_mixed_reads_while_a_backfill_writes(
    pg_url: str, record_property: Callable[[str, object], None], capsys: pytest.CaptureFixture[str]
) -> None:
    result, backfill = soak_while_backfilling(pg_url, seconds=10, clients=3)
    with capsys.disabled():
        print(f"\nsoak: {result.summary()}")
    record_property("soak_requests", result.requests)
    record_property("soak_p99_ms", round(result.p99 * 1000, 1))
    assert result.errors == 0, result.error_samples
    assert result.requests >= 50
    assert len(result.rss) >= 20
    assert result.memory_flat(), result.summary()
    # The writes went through meanwhile and completely.
    assert backfill.ok
    dataset, areas, start, end, _window = BACKFILL
    with open_store(pg_url) as store:
        assert dataset_coverage(store, dataset, list(areas), start, end).missing == 0
