"""theory: deep-linear-network theory of perceptual learning and efficient coding.

Modules (import the one you need, e.g. ``from theory import saxe``):

* ``tuning`` — population tuning curves (von Mises, Gaussian), g+-, d, v;
* ``saxe`` — the alpha/beta ODEs of the 3-layer linear network (seed 001): vector field, diffrax
  integration, closed form, fixed point, conservation law, scalar chain (reverse hierarchy),
  pooling transfer and savings;
* ``deep_linear`` — full-batch gradient descent on deep linear networks (``lax.scan``) and the
  projections onto the reduced variables;
* ``sv_dynamics`` — singular-value ODEs and closed forms for depth 1, 2, >= 3 (seed 003);
* ``natural_images`` — the natural photographs bundled with scikit-image / scikit-learn, patches;
* ``linear_ae`` — the linear autoencoder on natural patches (PC learning order, SF thresholds,
  acuity);
* ``sensitivity`` — D(theta) = ||dy/dtheta||^2 by forward-mode autodiff, thresholds, CO ratio;
* ``stimuli`` — the shared pixel-grid convention and the 32 x 32 sinusoids;
* ``report_saxe`` / ``report_svd`` — figures and tables behind ``vpl-jax theory saxe|svd``.

This package never imports the AlexNet code; ``vpl_jax`` may import ``theory``.
"""
