"""Test-only fault injection: the trainer SIGKILLs its own process at a named point.

Set ``ZOO_FAULT`` in the environment of a ``zoo train`` process (tests/test_faults.py
does) to simulate a crash, power cut or OOM kill at an exact point; leave it unset
in normal use. The value is ``POINT:EPOCH`` or ``after_batch:EPOCH:STEP``, epochs
and steps counted from 1 as in the progress bar and ``state.json``:

==========================  ==============================================================
``after_batch:E:S``         mid-epoch: optimiser step S of epoch E has been applied (with several
                            steps per graph call, at the end of the call that ran step S)
``in_checkpoint_write:E``   epoch E's checkpoint is in its temporary file, not yet renamed
``before_state_write:E``    epoch E's checkpoint files are in place; ``state.json`` still
                            names epoch E-1
``after_state_write:E``     ``state.json`` names epoch E; ``metrics.csv`` not yet rewritten
                            and the previous epoch's checkpoint not yet deleted
``after_epoch:E``           between epochs: everything of epoch E is on disk, E+1 not begun
==========================  ==============================================================

Cost when unset: ``hit`` is a call and one comparison with None.
"""

from __future__ import annotations

import os
import signal

from zoo.errors import ZooError

POINTS = ("after_batch", "in_checkpoint_write", "before_state_write", "after_state_write", "after_epoch")
ENV = "ZOO_FAULT"


def parse(value: str | None) -> tuple[str, int, int | None] | None:
    if not value:
        return None
    point, *numbers = value.split(":")
    wanted = 2 if point == "after_batch" else 1
    if point not in POINTS or len(numbers) != wanted or not all(n.isdigit() and int(n) >= 1 for n in numbers):
        raise ZooError(f"{ENV}={value!r}: expected after_batch:EPOCH:STEP or POINT:EPOCH with POINT one of "
                       f"{', '.join(POINTS[1:])} (a test-only setting; unset it)")
    return point, int(numbers[0]), int(numbers[1]) if wanted == 2 else None


_FAULT = parse(os.environ.get(ENV))


def hit(point: str, epoch: int, step: int | None = None, last: int | None = None) -> None:
    """SIGKILLs this process when ``ZOO_FAULT`` names this point (epoch and step from 1).

    ``step``..``last`` is the range of steps a graph call ran (``last`` None: just ``step``)."""
    if _FAULT is None or _FAULT[:2] != (point, epoch):
        return
    wanted = _FAULT[2]
    if wanted == step or (wanted is not None and step is not None and step <= wanted <= (last or step)):
        os.kill(os.getpid(), signal.SIGKILL)
