"""The generic training loop and what it needs: sharding, checkpoints, logs."""
