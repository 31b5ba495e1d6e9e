"""benchmarks/perf/time_to_quality.py's search for the first snapshot that reaches the target, with a fake scorer
(no training): it finds the same snapshot as scoring every one would, while scoring few of them at the full k."""
from __future__ import annotations

import importlib.util
import sys
from argparse import Namespace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("perf_time_to_quality", ROOT / "benchmarks" / "perf" / "time_to_quality.py")
ttq = importlib.util.module_from_spec(_spec)
sys.modules["perf_time_to_quality"] = ttq
_spec.loader.exec_module(ttq)

ARGS = Namespace(target=86.76, k=5000, screen_k=500, margin=1.0)
SCREEN_GAP = 0.6  # a k = 500 bound above the k = 5000 one by this much


def falling_curve(count: int, start: float = 95.0, step: float = 0.5) -> list[float]:
    return [start - step * i for i in range(count)]


def run(curve: list[float]):
    taken = [{"epoch": 10 * (i + 1), "wall_seconds": 30.0 * (i + 1)} for i in range(len(curve))]
    calls = []

    def score_at(snap, k):
        calls.append((snap["epoch"], k))
        nll = curve[snap["epoch"] // 10 - 1]
        return nll + (SCREEN_GAP if k == ARGS.screen_k else 0.0)

    return ttq.find_first_reached(taken, ARGS, score_at), calls, taken


@pytest.mark.parametrize("count", [1, 2, 7, 20, 40])
def test_finds_the_first_snapshot_at_or_below_the_target(count):
    curve = falling_curve(count, start=90.0, step=0.3)
    reached, calls, _ = run(curve)
    expected = next((i for i, v in enumerate(curve) if v <= ARGS.target), None)
    if expected is None:
        assert reached is None
    else:
        assert reached["epoch"] == 10 * (expected + 1)
        assert reached["nll_k5000"] == pytest.approx(curve[expected])
    full = [epoch for epoch, k in calls if k == ARGS.k]
    assert len(full) <= max(1, len(curve)).bit_length()  # bisection, not one k = 5000 score per candidate


def test_screen_stops_at_the_first_snapshot_clearly_above_the_target():
    curve = falling_curve(20, start=95.0, step=0.5)  # 95.0 ... 85.5: crosses 86.76 at index 17
    reached, calls, taken = run(curve)
    assert reached["epoch"] == 180
    screened = [epoch for epoch, k in calls if k == ARGS.screen_k]
    # walked back from the last; stopped at the first whose screen minus the margin is above the target
    assert screened == sorted(screened, reverse=True) and screened[0] == 200
    last = screened[-1]
    assert curve[last // 10 - 1] + SCREEN_GAP - ARGS.margin > ARGS.target
    assert all(curve[e // 10 - 1] + SCREEN_GAP - ARGS.margin <= ARGS.target for e in screened[:-1])
    assert "nll_k500" not in taken[0]  # the early snapshots were never scored


def test_none_when_the_curve_never_gets_there():
    reached, calls, _ = run(falling_curve(10, start=99.0, step=0.2))
    assert reached is None
    assert calls == [(100, ARGS.screen_k)]
