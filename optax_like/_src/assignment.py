r"""The linear assignment problem, solved in JAX (``optax_like.assignment``).

Given costs :math:`C \in \mathbb{R}^{n \times m}`, find :math:`\min(n, m)` pairs (row, column),
no row and no column used twice, of least total cost:

.. math::
  \min_X \sum_{ij} C_{ij} X_{ij} \quad \text{s.t.} \quad X_{ij} \in \{0, 1\},\;
  \sum_i X_{ij} \le 1,\; \sum_j X_{ij} \le 1,\; \sum_{ij} X_{ij} = \min(n, m).

One solver serves both public functions: the shortest-augmenting-path form of the Hungarian
method with row and column potentials (Jonker & Volgenant, 1987): rows are added one at a
time, each along a shortest alternating path in the reduced costs :math:`C_{ij} - u_i - v_j`,
found Dijkstra-style; :math:`O(n^2 m)` in all. Everything is ``lax`` loops of fixed shapes, so
both functions run under ``jit`` and ``vmap``. The two functions differ only in the order in
which they list the pairs, which follows optax 0.2.8's two implementations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def _solve_wide(cost: jax.Array) -> jax.Array:
  """The optimal column of every row of a cost matrix with ``rows <= cols``.

  Column 0 of the arrays below is a sentinel (the "free" column a new row starts from);
  real columns are 1..m, and ``owner[j]`` is 1 + the row holding column j (0: free).
  """
  n, m = cost.shape
  dtype = jnp.promote_types(cost.dtype, jnp.asarray(0.0).dtype)
  cost = cost.astype(dtype)
  inf = jnp.array(jnp.inf, dtype)
  columns = jnp.arange(m + 1)

  def add_row(carry, row):
    u, v, owner = carry
    owner = owner.at[0].set(row + 1)

    # Dijkstra over columns: dist[j] is the cheapest reduced cost of reaching column j.
    def step(s):
      u, v, dist, came_from, visited, owner, current = s
      visited = visited.at[current].set(True)
      r = owner[current] - 1                        # the row reached through `current`
      reduced = cost[r] - u[r + 1] - v[1:]
      reduced = jnp.concatenate([inf[None], reduced])
      open_ = ~visited
      better = open_ & (reduced < dist)
      dist = jnp.where(better, reduced, dist)
      came_from = jnp.where(better, current, came_from)
      masked = jnp.where(open_, dist, inf)
      nxt = jnp.argmin(masked)
      delta = masked[nxt]
      # Shift the potentials so reduced costs stay >= 0 and the tree's edges stay tight.
      rows_in_tree = jnp.where(visited, owner, n + 1)   # row n + 1: a dump slot
      u = u.at[rows_in_tree].add(delta)
      v = jnp.where(visited, v - delta, v)
      dist = jnp.where(open_, dist - delta, dist)
      return u, v, dist, came_from, visited, owner, nxt

    start = (u, v, jnp.full(m + 1, inf), jnp.zeros(m + 1, columns.dtype),
             jnp.zeros(m + 1, bool), owner, jnp.array(0, columns.dtype))
    u, v, _, came_from, _, owner, free = lax.while_loop(
        lambda s: s[5][s[6]] != 0, step, start)

    # Flip the alternating path back from the free column it reached.
    def flip(s):
      owner, col = s
      prev = came_from[col]
      return owner.at[col].set(owner[prev]), prev

    owner, _ = lax.while_loop(lambda s: s[1] != 0, flip, (owner, free))
    return (u, v, owner), None

  u = jnp.zeros(n + 2, dtype)          # row potentials, 1-based, plus a dump slot
  v = jnp.zeros(m + 1, dtype)          # column potentials, 1-based
  owner = jnp.zeros(m + 1, columns.dtype)
  (_, _, owner), _ = lax.scan(add_row, (u, v, owner), jnp.arange(n))
  # Invert owner (column -> row) into row -> column.
  # (free columns write to the discarded slot 0; the sentinel column 0 is left out).
  col_of_row = jnp.zeros(n + 1, columns.dtype).at[owner[1:]].set(columns[1:])
  return col_of_row[1:] - 1


def _empty():
  return jnp.zeros(0, int), jnp.zeros(0, int)


def _check(cost_matrix) -> jax.Array:
  cost = jnp.asarray(cost_matrix)
  if cost.ndim != 2:
    raise ValueError(f'hungarian_algorithm: `cost_matrix` must be a 2-D array, got shape '
                     f'{cost.shape} (use jax.vmap for a batch of matrices).')
  return cost


def base_hungarian_algorithm(cost_matrix):
  r"""An optimal assignment ``(i, j)`` for the cost matrix :math:`C` (see the module docstring):
  row ``i[k]`` goes to column ``j[k]``, and the cost is ``cost_matrix[i, j].sum()``.

  Pairs are listed by row: ``i`` is increasing (``arange(n)`` when :math:`n \le m`). Both are
  integer arrays of length :math:`\min(n, m)`.

  Reference: Crouse, `On implementing 2D rectangular assignment algorithms
  <https://ieeexplore.ieee.org/document/7738348>`_, 2016.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> cost = jnp.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    >>> i, j = ox.assignment.base_hungarian_algorithm(cost)
    >>> i.tolist(), j.tolist(), int(cost[i, j].sum())
    ([0, 1, 2], [1, 0, 2], 5)
  """
  cost = _check(cost_matrix)
  n, m = cost.shape
  if n == 0 or m == 0:
    return _empty()
  if n <= m:
    return jnp.arange(n), _solve_wide(cost)
  row_of_col = _solve_wide(cost.T)        # for each column, its row
  order = jnp.argsort(row_of_col)
  return row_of_col[order], order


def hungarian_algorithm(cost_matrix):
  r"""An optimal assignment ``(i, j)`` for the cost matrix :math:`C` (see the module docstring):
  row ``i[k]`` goes to column ``j[k]``, and the cost is ``cost_matrix[i, j].sum()``.

  The same solver as ``base_hungarian_algorithm``, with optax 0.2.8's order of the pairs for
  this function: for a square matrix ``j`` is ``arange(n)``; for a wide one (:math:`n < m`) the
  rows come in decreasing order, for a tall one the columns do.

  Reference: Jonker & Volgenant, `A shortest augmenting path algorithm for dense and sparse
  linear assignment problems <https://doi.org/10.1007/BF02278710>`_, 1987.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> cost = jnp.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    >>> i, j = ox.assignment.hungarian_algorithm(cost)
    >>> i.tolist(), j.tolist(), int(cost[i, j].sum())
    ([1, 0, 2], [0, 1, 2], 5)
  """
  cost = _check(cost_matrix)
  n, m = cost.shape
  if n == 0 or m == 0:
    return _empty()
  if n == m:
    col_of_row = _solve_wide(cost)
    row_of_col = jnp.zeros(n, col_of_row.dtype).at[col_of_row].set(jnp.arange(n))
    return row_of_col, jnp.arange(n)
  if n < m:
    col_of_row = _solve_wide(cost)
    return jnp.arange(n)[::-1], col_of_row[::-1]
  row_of_col = _solve_wide(cost.T)
  return row_of_col[::-1], jnp.arange(m)[::-1]
