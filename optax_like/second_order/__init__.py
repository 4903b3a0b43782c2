"""Second-order helpers: optax.second_order's names (deprecated in optax 0.2.8, as here)."""

from optax_like._src.second_order import fisher_diag
from optax_like._src.second_order import hessian_diag
from optax_like._src.second_order import hvp
