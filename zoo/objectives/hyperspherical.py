"""The ELBO of a von Mises–Fisher posterior, with the correction term of its rejection sampler's gradient.

Davidson, Falorsi, De Cao, Kipf & Tomczak 2018, "Hyperspherical Variational Auto-Encoders"
(arXiv:1804.00891), section 3, after Naesseth et al. 2017 ("Reparameterization Gradients through
Acceptance-Rejection Sampling Algorithms"): for m ≠ 3, w = μᵀz is drawn by Wood's rejection sampler,
w = h(ε, κ) with ε ~ Beta((m−1)/2, (m−1)/2) accepted, and the gradient of E_q[f(z)] is

    g = g_rep + g_cor,   g_rep = E[∇ f(h(ε, κ))],   g_cor = E[f(z) ∇_κ log (q(h(ε, κ); κ) / r(h(ε, κ); κ))],

q the marginal density of w, r the density of the proposal h(ε, κ). Sampling through h gives g_rep
(what TFP's sampler differentiates); ``HypersphericalELBO`` adds g_cor as a zero-valued surrogate
f · (L − stop_gradient(L)) on the distortion. The analytic KL needs no correction. For m = 3 TFP samples
w by inversion, which is exactly reparameterised, and nothing is added.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from zoo.objectives.elbo import ELBO
from zoo.objectives.objective import ObjectiveInputs
from zoo.von_mises_fisher import wood_b, wood_h

tfd = tfp.distributions

# ε recovered from a float32 code can round onto 0 or 1, where log ε(1 − ε) is infinite.
_EPSILON_CLIP = 1e-6


def vmf_rejection_log_ratio(mean_direction: tf.Tensor, concentration: tf.Tensor, codes: tf.Tensor) -> tf.Tensor:
    """log q(h(ε, κ); κ) − log r(h(ε, κ); κ) for each code, up to terms constant in κ; differentiable in κ only.

    ε is read back from the code (w = μᵀz, ε = (1 − w) / ((1 + b) − (1 − b) w)) and held fixed; TFP's sampler uses
    b = (m − 1) / (2κ + √(4κ² + (m − 1)²)) and h(ε, κ) = (1 − (1 + b) ε) / (1 − (1 − b) ε), so |∂h/∂ε| = 2b / (1 − (1 − b) ε)²
    and q(w; κ) ∝ exp(κw) (1 − w²)^((m−3)/2) / (I_{m/2−1}(κ) κ^(1−m/2)).
    """
    m = mean_direction.shape[-1]
    dim = float(m - 1)
    kappa = concentration
    w = tf.stop_gradient(tf.reduce_sum(mean_direction * codes, axis=-1))
    b = wood_b(kappa, dim)
    fixed_b = tf.stop_gradient(b)
    epsilon = tf.stop_gradient(tf.clip_by_value((1.0 - w) / ((1.0 + fixed_b) - (1.0 - fixed_b) * w),
                                                _EPSILON_CLIP, 1.0 - _EPSILON_CLIP))
    denominator = 1.0 - (1.0 - b) * epsilon
    h = wood_h(epsilon, b)
    # 1 − h² = 4bε(1 − ε) / denominator², without the cancellation of 1 − h·h near w = 1.
    log_one_minus_h2 = tf.math.log(4.0 * b * epsilon * (1.0 - epsilon)) - 2.0 * tf.math.log(denominator)
    order = m / 2.0 - 1.0
    log_normaliser = tfp.math.log_bessel_ive(order, kappa) + kappa - order * tf.math.log(kappa)
    log_q = kappa * h + 0.5 * (m - 3) * log_one_minus_h2 - log_normaliser
    log_abs_dh = tf.math.log(2.0 * b) - 2.0 * tf.math.log(denominator)
    return log_q + log_abs_dh


class HypersphericalELBO(ELBO):
    """The ELBO (β, warm-up and capacity as ``ELBO``) whose gradient includes g_cor for rejection-sampled vMF codes.

    The loss value is the ELBO's; the added term is zero and only changes the gradient with respect to κ.
    """

    def __init__(self, rejection_correction: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.rejection_correction = bool(rejection_correction)

    def terms(self, inputs: ObjectiveInputs) -> dict[str, tf.Tensor]:
        terms = super().terms(inputs)
        posterior = inputs.posterior
        if (self.rejection_correction and isinstance(posterior, tfd.VonMisesFisher)
                and posterior.event_shape[-1] != 3):
            log_ratio = vmf_rejection_log_ratio(posterior.mean_direction, posterior.concentration, inputs.codes)
            score = log_ratio - tf.stop_gradient(log_ratio)
            terms["loss"] = terms["loss"] + tf.reduce_mean(tf.stop_gradient(inputs.distortion()) * score)
        return terms
