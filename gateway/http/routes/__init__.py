"""Routes, one module per resource; each has `setup(app)`."""
