"""benchmarks/perf/variants.py's bookkeeping, without its workers (stdlib and the registry file only): the pythae
config derived from a zoo preset, the choice of pythae's thread count, the ratio against the target and the page."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("perf_variants", ROOT / "benchmarks" / "perf" / "variants.py")
variants = importlib.util.module_from_spec(_spec)
sys.modules["perf_variants"] = variants
_spec.loader.exec_module(variants)


def zoo_settings(**model):
    """A tf_variant_worker.py "settings" answer with the benchmark's architecture and ``model`` fields."""
    return {"model": {"latent_dim": 32, "hidden_units": [512, 512], **model}, "batch_size": 128,
            "learning_rate": 1e-3, "dataset_size": 55000, "segment_steps": 156,
            "optimizer_groups": {"discriminator": {"learning_rate": 1e-4, "beta_1": 0.5, "beta_2": 0.9}}}


def test_every_model_is_a_registry_preset_with_its_differences():
    presets = yaml.safe_load((ROOT / "registry.yaml").read_text())["models"]
    assert set(variants.PEERS) <= set(presets)
    assert set(variants.PEERS) == set(variants.DIFFERENCES)


def test_common_settings_follow_the_zoo():
    settings = variants.pythae_settings("vae", zoo_settings())
    assert settings == {"class": "VAE", "config_class": "VAEConfig",
                        "config": {"latent_dim": 32, "reconstruction_loss": "bce"}, "encoder": {"kind": "gaussian"},
                        "batch_size": 128, "learning_rate": 1e-3, "dataset_size": 55000}


def test_beta_tc_vae_is_alpha_gamma_one_and_the_zoo_estimator():
    config = variants.pythae_settings("beta_tc_vae", zoo_settings(beta=6.0, tc_estimator="mws"))["config"]
    assert (config["alpha"], config["beta"], config["gamma"], config["use_mss"]) == (1.0, 6.0, 1.0, False)
    assert variants.pythae_settings("beta_tc_vae", zoo_settings(beta=2.0, tc_estimator="mss"))["config"]["use_mss"]


def test_factor_vae_takes_the_zoo_discriminator_and_its_optimiser():
    settings = variants.pythae_settings("factor_vae", zoo_settings(gamma=35.0, discriminator_units=[1000] * 6))
    assert settings["config"]["gamma"] == 35.0
    assert settings["discriminator"] == {"units": [1000] * 6, "learning_rate": 1e-4, "betas": [0.5, 0.9]}


def test_model_specific_fields():
    derive = variants.pythae_settings
    assert derive("iwae", zoo_settings(iw_train_samples=5))["config"]["number_samples"] == 5
    assert derive("vamp", zoo_settings(num_pseudo_inputs=500))["config"]["number_components"] == 500
    iaf = derive("iaf_vae", zoo_settings(flow_steps=2, flow_hidden_units=[320, 320]))["config"]
    assert (iaf["n_made_blocks"], iaf["n_hidden_in_made"], iaf["hidden_size"]) == (2, 2, 320)
    vq = derive("vq_vae", zoo_settings(num_embeddings=256, embedding_dim=4, commitment_cost=0.25))
    assert vq["encoder"] == {"kind": "vq", "embedding_dim": 4}
    assert "reconstruction_loss" not in vq["config"]  # an AE-type config: squared error only
    assert vq["config"]["commitment_loss_factor"] == 0.25 and vq["config"]["num_embeddings"] == 256
    kernel = {"kernel_bandwidth": 1.0, "kernel_scales": [0.1, 1.0]}
    wae = derive("wae_mmd", zoo_settings(mmd_weight=10.0, **kernel))
    assert wae["encoder"] == {"kind": "deterministic"}
    assert wae["config"] == {"latent_dim": 32, "reg_weight": 10.0, "kernel_choice": "imq", "kernel_bandwidth": 1.0,
                             "scales": [0.1, 1.0]}
    info = derive("info_vae", zoo_settings(alpha=0.0, lambda_mmd=1000.0, **kernel))["config"]
    assert (info["alpha"], info["lbd"], info["reconstruction_loss"]) == (0.0, 1000.0, "bce")
    assert derive("svae", zoo_settings())["encoder"] == {"kind": "vmf"}


def test_limits_name_what_pythae_cannot_take():
    assert variants.limits("iaf_vae", {"flow_hidden_units": [320, 320]}) == []
    assert variants.limits("iaf_vae", {"flow_hidden_units": [320, 160]})
    assert variants.limits("beta_vae", {"capacity_max": 25.0})


def summary(zoo, one, two):
    return variants.summarise("vae", zoo_settings(), variants.pythae_settings("vae", zoo_settings()),
                              {"pythae@1": {}, "pythae@2": {}},
                              {"zoo": zoo, "pythae@1": one, "pythae@2": two}, {"zoo": 1.0}, 160)


def test_pythae_counts_at_its_best_thread_count_and_the_ratio_is_of_medians():
    result = summary([300.0, 100.0, 200.0], [50.0, 100.0, 150.0], [10.0, 200.0, 160.0])
    assert result["pythae_threads"] == 2 and result["median_images_per_s"]["pythae"] == 160.0
    assert result["ratio_of_medians"] == 200.0 / 160.0 and not result["target_met"]
    assert result["median_of_paired_ratios"] == sorted([300 / 10, 100 / 200, 200 / 160])[1]
    assert summary([400.0], [100.0], [50.0])["target_met"]


def test_page_has_a_row_per_model_and_per_failure(tmp_path):
    result = summary([400.0], [100.0], [50.0])
    result["zoo"].update(preset_model={"latent_dim": 10}, overrides={"model": variants.ARCHITECTURE},
                         hyperparameters={"beta": 4.0},
                         execution={"xla_compiled": True, "steps_per_execution": 13})
    report = {"command": "python variants.py", "date": "today", "batch_size": 128, "rounds": 1, "target": 1.3,
              "machine": {"cpu": "cpu", "cores": 2, "load_average_at_start": [1, 1, 1],
                          "load_average_at_end": [2, 2, 2]}, "peer_threads_tried": [1, 2],
              "common_differences": ["data"], "results": {"vae": result}, "failures": {"svae": "boom\ntrace"}}
    variants.write_md(report, tmp_path / "variants")
    page = (tmp_path / "variants.md").read_text()
    assert "| vae | VAE | 400 | 100 (1) | 4.00 | 4.00 | met |" in page
    assert "| svae | SVAE | failed |" in page and "- svae: `boom`" in page
    assert "latent_dim=10 → 32" in page
