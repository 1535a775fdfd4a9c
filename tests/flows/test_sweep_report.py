"""What a sweep (or a batch of it) says at its end: failures named by slug, skipped sets named, counts right."""

from __future__ import annotations

from flows.sweep import SetOutcome, outcome_of, report


def test_failures_are_named_by_slug_with_their_message() -> None:
    outcomes = [
        outcome_of("alpha", "COMPLETED", "Completed", "alpha: 1 action done"),
        outcome_of("beta", "FAILED", "Failed", "beta: 1 of 3 items not synced: TRANSIENT 1 (b.txt)"),
        outcome_of("gamma", "CRASHED", "Crashed", None),
        outcome_of("delta", "COMPLETED", "Skipped", "Sync set 'delta' is being changed by run x"),
    ]
    state = report(outcomes)
    assert state.is_failed()
    assert state.message == (
        "2 of 4 sync sets not fully synced: beta: beta: 1 of 3 items not synced: TRANSIENT 1 (b.txt) | gamma: Crashed"
        "; 1 skipped (held by another run, or unsynced): delta"
    )


def test_a_sweep_that_missed_nothing_completes() -> None:
    state = report([SetOutcome("a", "done", ""), SetOutcome("b", "done", "")], " (in 1 runs of up to 10 sets)")
    assert state.is_completed() and state.message == "2 of 2 sync sets reconciled (in 1 runs of up to 10 sets)"


def test_batches_are_as_big_as_allowed_but_fill_the_concurrency() -> None:
    from flows.settings import Settings
    from flows.sweep import batch_size

    settings = Settings(sweep_batch_size=25, sweep_concurrency=4)
    assert batch_size(200, settings) == 25  # 8 runs, 4 at a time
    assert batch_size(60, settings) == 15  # 4 runs, all at once
    assert batch_size(3, settings) == 1  # 3 runs of one set
