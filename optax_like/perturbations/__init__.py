"""Differentiable approximations by random perturbations: optax.perturbations's names."""

from optax_like._src.perturbations import Gumbel
from optax_like._src.perturbations import Normal
from optax_like._src.perturbations import make_perturbed_fun
