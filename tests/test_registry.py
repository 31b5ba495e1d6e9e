"""Registry loading, validation and precedence (dataclass default < registry < CLI)."""

from __future__ import annotations

import textwrap

import pytest

from zoo import registry as registry_module
from zoo.errors import ZooError
from zoo.registry import load_registry, read_registry_file
from zoo.run_spec import resolve

BUILTIN = ("ae", "vae", "beta_vae", "cvae", "conv_vae_cartoon")


def write(tmp_path, text, name="extra.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_builtin_entries_resolve():
    registry = load_registry()
    assert set(BUILTIN) <= set(registry.names())
    for name in BUILTIN:
        spec = resolve(registry.get(name))
        assert spec.model_config(spec.data.expected_image_shape, spec.data.expected_num_classes).latent_dim >= 1


def test_unknown_model_lists_choices():
    with pytest.raises(ZooError, match=r"unknown model 'vea' \(did you mean 'vae'\?\); choose one of: ae, vae, beta_vae, cvae"):
        load_registry().get("vea")


def test_precedence_default_registry_cli(tmp_path):
    path = write(tmp_path, """
        models:
          plain:
            class: zoo.models.beta_vae:BetaVAE
          tuned:
            class: zoo.models.beta_vae:BetaVAE
            model: {latent_dim: 7, beta: 2.5}
    """)
    registry = load_registry(path)
    assert resolve(registry.get("plain")).model.get("latent_dim") is None  # the dataclass default applies
    plain = resolve(registry.get("plain")).model_config()
    assert (plain.latent_dim, plain.beta) == (32, 4.0)
    tuned = resolve(registry.get("tuned")).model_config()
    assert (tuned.latent_dim, tuned.beta) == (7, 2.5)
    flagged = resolve(registry.get("tuned"), {"model": {"beta": 0.5}}).model_config()
    assert (flagged.latent_dim, flagged.beta) == (7, 0.5)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("models:\n  x: {class: zoo.models.vae:VAE, colour: red}", r"unknown key\(s\) colour; valid keys: class"),
        ("models:\n  x: {model: {}}", r"needs a 'class' key"),
        ("models:\n  x: {class: zoo.models.nope:VAE}", r"entry 'x'.*cannot import class 'zoo.models.nope:VAE'"),
        ("models:\n  x: {class: collections:OrderedDict}", r"is not a zoo model"),
        ("models:\n  x: {class: zoo.models.vae:VAE, model: {latnt_dim: 3}}", r"unknown key\(s\) latnt_dim; valid keys:.*latent_dim"),
        ("models:\n  x: {class: zoo.models.vae:VAE, model: {latent_dim: 0}}", r"latent_dim.*0 is out of range; it must be >= 1"),
        ("models:\n  x: {class: zoo.models.beta_vae:BetaVAE, model: {beta: -1}}", r"beta.*-1.0 is out of range; it must be >= 0"),
        ("models:\n  x: {class: zoo.models.vae:VAE, model: {latent_dim: two}}", r"latent_dim.*expected an integer, got 'two'"),
        ("models:\n  x: {class: zoo.models.vae:VAE, train: {batch_size: 0}}", r"batch_size.*must be >= 1"),
        ("models:\n  x: {class: zoo.models.vae:VAE, search_space: {beta: {values: [1]}}}", r"search_space 'beta': not a config field of VAE"),
        ("models:\n  x: {class: zoo.models.vae:VAE, search_space: {latent_dim: {min: 8, max: 2}}}", r"needs numbers min < max"),
        ("models:\n  x: {class: zoo.models.vae:VAE, dataset: cifar}", r"unknown dataset 'cifar'; choose one of"),
    ],
)
def test_invalid_entries_fail_with_one_clear_line(tmp_path, body, message):
    path = write(tmp_path, body)
    with pytest.raises(ZooError, match=message) as info:
        resolve(load_registry(path).get("x"))
    assert "\n" not in str(info.value)


def test_malformed_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "models:\n  x: {class: zoo.models.vae:VAE\n  y: [\n")
    with pytest.raises(ZooError, match=r"is not valid YAML at line \d+"):
        read_registry_file(path)


def test_environment_registry_is_merged(tmp_path, monkeypatch):
    path = write(tmp_path, "models:\n  mine:\n    class: zoo.models.vae:VAE\n    model: {latent_dim: 3}\n")
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    registry = load_registry()
    assert resolve(registry.get("mine")).model_config().latent_dim == 3
    assert set(BUILTIN) <= set(registry.names())


class FakeEntryPoint:
    def __init__(self, name, value, loaded):
        self.name, self.value, self._loaded = name, value, loaded

    def load(self):
        if isinstance(self._loaded, Exception):
            raise self._loaded
        return self._loaded


def test_entry_point_plugins_and_broken_plugins(monkeypatch):
    points = [
        FakeEntryPoint("good", "pkg:ENTRIES", {"plugged": {"class": "zoo.models.vae:VAE", "model": {"latent_dim": 5}}}),
        FakeEntryPoint("broken", "bad_pkg:ENTRIES", ImportError("No module named 'bad_pkg'")),
    ]
    monkeypatch.setattr(registry_module.metadata, "entry_points",
                        lambda group: points if group == registry_module.ENTRY_POINT_GROUP else [])
    registry = load_registry()
    assert resolve(registry.get("plugged")).model_config().latent_dim == 5
    assert set(BUILTIN) <= set(registry.names())  # a broken plugin hides nothing else
    assert registry.warnings == ["skipped entry point 'broken' (bad_pkg:ENTRIES): No module named 'bad_pkg'"]
