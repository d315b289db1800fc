"""Example feature definitions shipped with streamfeat."""
