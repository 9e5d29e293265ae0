"""Training recipes: one readable module each, registering itself in ``RECIPES``.

Each module states at its top what it reproduces (model, optimiser, schedule, data, threshold,
and where each choice comes from) and what has been measured with it (on which hardware, n).
"""
