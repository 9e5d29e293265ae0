"""Reference models in plain PyTorch, one readable file each, shared by training and inference."""
