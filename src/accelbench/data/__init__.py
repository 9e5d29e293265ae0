"""Datasets: loaders for the published formats, decoded once into a cache, and synthetic
stand-ins of the same shapes."""
