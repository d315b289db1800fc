"""HTTP feature serving (see :mod:`streamfeat.serving.cli`)."""
