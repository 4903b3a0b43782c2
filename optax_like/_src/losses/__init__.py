"""Loss functions, one module per family; ``optax_like.losses`` re-exports them."""
