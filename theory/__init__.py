"""theory: deep-linear-network theory of perceptual learning and efficient coding.

The papers:

* A. M. Saxe, *A deep learning theory of perceptual learning dynamics* (poster), with
  A. M. Saxe, J. L. McClelland & S. Ganguli (2014), *Exact solutions to the nonlinear dynamics of
  learning in deep linear neural networks*;
* A. S. Benjamin, L.-Q. Zhang, C. Qiu, A. A. Stocker & K. P. Kording (2022), *Efficient neural
  codes naturally emerge through gradient descent learning* (Nature Communications).

Modules (import the one you need, e.g. ``from theory import saxe``), in layer order (each imports
only modules above it):

* ``checks`` — `InputError` and the input checks shared by ``theory`` and ``vpl_jax``;
* ``ode`` — the one ODE solve (diffrax Tsit5, PID step control, forward-mode derivatives);
* ``tuning`` — population tuning curves (von Mises, Gaussian), g+-, d, v;
* ``stimuli`` — the shared pixel-grid convention and the 32 x 32 sinusoids;
* ``sensitivity`` — D(theta) = ||dy/dtheta||^2 by forward-mode autodiff, thresholds, CO ratio;
* ``deep_linear`` — full-batch gradient descent on deep linear networks (``lax.scan``) and the
  projections onto the reduced variables;
* ``saxe`` — the alpha/beta ODEs of the 3-layer linear network (Saxe's poster): vector field,
  integration, closed form, fixed point, conservation law, scalar chain (reverse hierarchy),
  pooling transfer and savings;
* ``sv_dynamics`` — singular-value ODEs and closed forms for depth 1, 2, >= 3 (Benjamin et al.);
* ``natural_images`` — natural photographs (bundled with scikit-image / scikit-learn), patches;
* ``linear_ae`` — the linear autoencoder on natural patches (PC learning order, SF thresholds,
  acuity);
* ``report_saxe`` / ``report_svd`` — figures and tables behind ``vpl-jax theory saxe|svd`` (the
  only modules that write files; none prints).

Traced-value policy (every module of ``theory``, stated once in :mod:`theory.checks`): a value
check runs when its input is concrete and raises `theory.checks.InputError` (a ``ValueError``)
naming the parameter, the allowed range and the value got; inside ``jit``/``vmap`` a value cannot
raise, so a function returns ``NaN`` where an input is outside its range, or a boolean ``ok``
status (ODE solves: :func:`theory.ode.solve`, :func:`theory.saxe.integrate`,
:func:`theory.sv_dynamics.integrate`). Shape, rank and static-argument checks raise under ``jit``
too. A solve that fails for concrete, valid inputs raises ``RuntimeError`` in :mod:`theory.saxe`
and returns ``ok = False`` in :mod:`theory.sv_dynamics`.

This package never imports ``vpl_jax``; ``vpl_jax`` may import ``theory``.
"""
