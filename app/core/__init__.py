"""Infrastructure every other part stands on: settings, connections, the clock, errors, input
checking, money, the instance secret and the per-process Runtime. Nothing here imports the
rooms above it."""
