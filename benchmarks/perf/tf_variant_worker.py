"""Zoo side of benchmarks/perf/variants.py: one registry preset trained as `zoo train NAME` trains it.

    tf_variant_worker.py NAME STEPS OVERRIDES_JSON

OVERRIDES_JSON is ``{"model": {...}, "train": {...}}``, applied over the preset as `zoo train --set` would
(variants.py gives every preset the benchmark's MLP, latent size, likelihood and batch size). The model is made
and fitted with the trainer's own functions in the trainer's order (zoo.training.trainer.train and _fit): ops
one at a time, the strategy, the data, the precision, determinism, build_model, the pipeline with its
binarisation, configure_fit (steps per graph call, XLA) and the DivergenceGuard. So a second optimiser (FactorVAE's
discriminator) is trained by TrainingModel's own step. One model.fit runs for the whole benchmark and is paused
between segments; the epoch-end callbacks of a run folder (checkpoints, TensorBoard, epoch log) and the
validation pass are left out, as in tf_worker.py.

Protocol (stdin/stdout, one line each): first {"settings": {...}} (the resolved config and execution mode, before
the step is traced), then "ready" once the first segment has run (tracing, XLA); each "zoo" trains one segment
(STEPS rounded to whole graph calls) and prints {"who", "images_per_s", "seconds", "steps"} or {"who", "error"};
"quit" ends it.
"""
from __future__ import annotations

import json
import os
import dataclasses
import sys
import threading

import zoo  # noqa: F401  (first, as in `zoo train`: it sets TensorFlow's CPU defaults before TF is imported)

from zoo.data import load_dataset, resolve_binarization, steps_per_epoch, train_dataset
from zoo.likelihoods import is_binary
from zoo.models.vae_config import VAEConfig
from zoo.registry import load_registry
from zoo.run_spec import resolve
from zoo.training.callbacks import DivergenceGuard
from zoo.training.devices import apply_precision, make_strategy, serialise_ops, visible_gpus
from zoo.training.trainer import build_model, configure_determinism, configure_fit

from segment_clock import SegmentClock  # beside this file

EPOCHS = 10_000  # more than any benchmark needs: the fit never ends on its own


def main():
    name, steps, overrides = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    entry = load_registry().get(name)
    spec = resolve(entry, overrides)
    train_cfg = spec.train
    # zoo.training.trainer.train's start, in its order (ops one at a time must precede the first TF op).
    if train_cfg.deterministic and train_cfg.strategy in ("auto", "default") and not visible_gpus():
        assert serialise_ops(), "TF started before serialise_ops"
    strategy = make_strategy(train_cfg.strategy)
    data = load_dataset(spec.data)
    precision = apply_precision(train_cfg.precision)
    configure_determinism(train_cfg.seed, train_cfg.deterministic)
    with strategy.scope():
        model = build_model(spec, data)
    config = model.zoo_model.config
    binarization = resolve_binarization(spec.data.binarization, is_binary(config.likelihood))
    epoch_steps = steps_per_epoch(data.train, train_cfg.batch_size)
    pipeline = train_dataset(data.train, batch_size=train_cfg.batch_size, seed=train_cfg.seed, start_epoch=0,
                             epochs=EPOCHS, binarization=binarization)
    execution = configure_fit(model, train_cfg, epoch_steps)
    # Keras runs whole graph calls, so a segment is the multiple of steps_per_execution nearest to STEPS.
    segment = model.steps_per_execution * max(1, round(steps / model.steps_per_execution))

    base_fields = {f.name for f in dataclasses.fields(VAEConfig)} - {"analytic_kl"}
    values = config.to_dict()
    settings = {
        "registry": name, "class": spec.class_path, "preset_model": dict(entry.model), "overrides": overrides,
        "model": values, "hyperparameters": {k: v for k, v in values.items() if k not in base_fields},
        "batch_size": train_cfg.batch_size, "learning_rate": train_cfg.learning_rate,
        "dataset_size": len(data.train.x), "binarization": binarization, "precision": precision,
        "execution": execution, "segment_steps": segment, "parameters": int(model.zoo_model.count_params()),
        "optimizer_groups": {group: {"learning_rate": g.learning_rate, "beta_1": g.beta_1, "beta_2": g.beta_2}
                             for group, g in model.groups.items()},
    }
    print(json.dumps({"settings": settings}), flush=True)

    guard, clock = DivergenceGuard.for_run(train_cfg, None), SegmentClock(segment)
    failure = []

    def fit():
        try:
            model.fit(pipeline, epochs=EPOCHS, steps_per_epoch=epoch_steps, callbacks=[guard, clock], verbose=0,
                      shuffle=False)
        except Exception as error:  # noqa: BLE001 -- reported to the orchestrator, not lost in the thread
            failure.append(f"{type(error).__name__}: {error}")
        finally:
            clock.done.put(None)  # a fit that ends answers the segment waiting for it

    threading.Thread(target=fit, daemon=True).start()

    def segment_result():
        seconds = clock.run()
        if seconds is None:
            reason = guard.error or (failure[0] if failure else "model.fit ended")
            return {"who": "zoo", "error": str(reason)}
        return {"who": "zoo", "images_per_s": segment * train_cfg.batch_size / seconds, "seconds": seconds,
                "steps": segment}

    warm = segment_result()  # tracing and XLA compilation
    if "error" in warm:  # on stderr, which the orchestrator shows when a worker fails to start
        print(f"{name}: warm-up failed: {warm['error']}", file=sys.stderr, flush=True)
        os._exit(1)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        print(json.dumps(segment_result()), flush=True)
    sys.stdout.flush()
    os._exit(0)  # the fit thread waits on its queue: leave without joining it


if __name__ == "__main__":
    main()
