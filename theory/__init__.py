"""theory: deep-linear-network theory of perceptual learning and efficient coding.

Modules: ``tuning`` (population tuning curves), ``saxe`` (alpha/beta ODEs, closed form, fixed
point, scalar chain, pooling transfer), ``deep_linear`` (gradient descent on deep linear networks),
``sv_dynamics`` (singular-value ODEs and closed forms), ``linear_ae`` (linear autoencoder on
natural-image patches), ``sensitivity`` (D(theta) by forward-mode autodiff).

This package never imports the AlexNet code; ``vpl_jax`` may import ``theory``.
"""
