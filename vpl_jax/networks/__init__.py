"""Feature stacks other than AlexNet, as pure functions on dict-pytree params.

* `vpl_jax.networks.vgg` -- torchvision's VGG family (VGG11/13/16/19, with and without
  BatchNorm), every layer read out, and a converter from torchvision state_dicts.
"""

from vpl_jax.networks import vgg

__all__ = ["vgg"]
