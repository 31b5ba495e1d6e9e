"""User-facing errors.

A ``ZooError`` is a mistake the user can fix (a bad name, config value, file or
folder). The CLI prints its message as one line and exits with code 2; anything
else is a bug and keeps its traceback.
"""


class ZooError(Exception):
    """A user error: the message says what is wrong and how to fix it."""

    exit_code = 2


class TrainingDiverged(ZooError):
    """The loss or a gradient became NaN/Inf; the last good checkpoint is kept."""

    exit_code = 3


def suggest(name: str, choices) -> str:
    """`` (did you mean 'vae'?)`` for the closest of ``choices`` to a mistyped ``name``, else ``""``."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(choice) for choice in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
