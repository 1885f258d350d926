"""run.log, run.summary, run.config and Table.add_data called from several threads at
once: every value exactly once, steps unique and increasing, no update lost."""

from __future__ import annotations

import collections
import itertools
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tablelog
from tablelog import wire
from tablelog.store.queue import Queue

THREADS = 8


@pytest.fixture(autouse=True)
def _frequent_switches() -> Iterator[None]:
    """Switch threads every few bytecodes, so that races show up in a small test."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def entries(queue_dir: Path) -> list[wire.Entry]:
    with Queue(queue_dir) as q:
        return [wire.decode_entry(e.payload)
                for e in q.claim_batch(max_entries=1_000_000, max_bytes=1 << 40)]


def in_threads(target: Callable[[int], None], n: int = THREADS) -> None:
    """Run target(0..n-1) on n threads started together; re-raise the first failure."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def body(k: int) -> None:
        try:
            barrier.wait(30)
            target(k)
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a logging thread hung"
    if errors:
        raise errors[0]


def test_log_from_eight_threads_every_value_once_steps_unique(queue_dir: Path) -> None:
    per_thread = 500
    run = tablelog.init(project="p", id="threads1")

    def work(k: int) -> None:
        for i in range(per_thread):
            run.log({"seq": k * 100_000 + i, f"t{k}": i})

    in_threads(work)
    assert run.step == THREADS * per_thread
    run.finish()
    rows = [(e.body["step"], e.body["row"]) for e in entries(queue_dir)
            if e.kind == wire.Kind.HISTORY]
    counts = collections.Counter(r["seq"] for _, r in rows)
    wanted = {k * 100_000 + i for k in range(THREADS) for i in range(per_thread)}
    assert set(counts) == wanted, f"lost {len(wanted - set(counts))}"
    assert max(counts.values()) == 1, "a value was committed twice"
    steps = [s for s, _ in rows]
    assert steps == list(range(THREADS * per_thread)), "steps repeated or out of order"
    for _, row in rows:  # each row holds exactly the keys its one log() call gave
        assert len(row) == 2, row
    for k in range(THREADS):  # each thread's rows in its own logging order
        mine = [r[f"t{k}"] for _, r in rows if f"t{k}" in r]
        assert mine == list(range(per_thread))


def test_concurrent_summary_and_config_updates_are_all_kept(queue_dir: Path) -> None:
    per_thread = 200
    run = tablelog.init(project="p", id="threads2")

    def work(k: int) -> None:
        for i in range(per_thread):
            run.config[f"c{k}_{i}"] = i
            run.summary[f"s{k}_{i}"] = i
            if i % 50 == 0:
                run.config.update({f"u{k}_{i}": -i})

    in_threads(work)
    run.finish()
    got = entries(queue_dir)
    configs = [e.body["config"] for e in got if e.kind == wire.Kind.CONFIG]
    for before, after in itertools.pairwise(configs):  # keys are only added
        assert before.keys() <= after.keys(), (
            f"a config entry dropped {sorted(before.keys() - after.keys())[:5]}")
    config = configs[-1]
    summary = [e.body["summary"] for e in got if e.kind == wire.Kind.SUMMARY][-1]
    for k in range(THREADS):
        for i in range(per_thread):
            assert config.get(f"c{k}_{i}") == i, f"config c{k}_{i} lost"
            assert summary.get(f"s{k}_{i}") == i, f"summary s{k}_{i} lost"
        assert all(config.get(f"u{k}_{i}") == -i for i in range(0, per_thread, 50))
    assert dict(run.config) == config


def test_table_add_data_from_threads_keeps_every_row(queue_dir: Path) -> None:
    per_thread = 300
    table = tablelog.Table(columns=["k", "i", "v"], log_mode="MUTABLE")

    def work(k: int) -> None:
        for i in range(per_thread):
            # mixed cell types widen the column's type while other threads append
            value: object = i if (i + k) % 3 else (float(i) if k % 2 else None)
            table.add_data(k, i, value)

    in_threads(work)
    assert sorted((r[0], r[1]) for r in table.data) == sorted(
        (k, i) for k in range(THREADS) for i in range(per_thread))
    for row in table.data:  # every stored cell fits its column's final type
        assert table._types[2].assign(row[2]) is not None
    with tablelog.init(project="p", id="threads3") as run:
        run.log({"t": table})
    arts = [e for e in entries(queue_dir) if e.kind == wire.Kind.ARTIFACT]
    assert len(arts) == 1
