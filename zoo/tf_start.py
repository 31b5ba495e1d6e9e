"""Starting TensorFlow without its C++ start-up chatter on the terminal.

Importing TensorFlow and creating its devices prints 6–8 lines from the C++ runtime on every start, whatever
``TF_CPP_MIN_LOG_LEVEL`` says (absl's "All log messages before absl::InitializeLog()…", "failed call to
cuInit" on machines without a GPU, oneDNN notes). They go straight to file descriptor 2, below Python, so
``start_tensorflow`` points that descriptor at a temporary file while TensorFlow, TensorFlow Probability and
Keras load and list their devices, then restores it. If the start fails, what was held back is printed with
the error. ``--verbose`` (or ``ZOO_VERBOSE=1``, which the bench's worker processes inherit) shows them.
"""

from __future__ import annotations

import os
import sys
import tempfile

VERBOSE_ENV = "ZOO_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def start_tensorflow() -> None:
    """Imports TensorFlow and its companions and creates the devices, quietly unless verbose."""
    if verbose() or "tensorflow" in sys.modules:
        _start()
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            _start()
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _start() -> None:
    import keras  # noqa: F401
    import tensorflow as tf
    import tensorflow_probability  # noqa: F401

    tf.config.list_physical_devices()
