"""zoo: an extensible model zoo of autoencoders and variational autoencoders on TensorFlow."""

import os
import platform

# TensorFlow switches its oneDNN CPU kernels on by default only on x86 CPUs with AVX-512 VNNI/BF16 or AMX.
# On other x86 CPUs (the 2-core AMD EPYC of docs/performance.md) they make the conv VAEs' training step about
# 1.4x faster and leave the dense ones as they were; bit-reproducibility is kept (zoo.training.devices).
# TensorFlow reads the variable when it is first imported, so zoo sets it on its own import, before anything
# imports TensorFlow; a value the user set wins.
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
