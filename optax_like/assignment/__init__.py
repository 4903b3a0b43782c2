"""The linear assignment problem: optax.assignment's names."""

from optax_like._src.assignment import base_hungarian_algorithm
from optax_like._src.assignment import hungarian_algorithm
