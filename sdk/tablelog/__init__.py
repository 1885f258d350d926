"""tablelog: wandb.Table-compatible logging that never blocks training."""
