"""Front ends: one module per input dialect, each turning a loaded Document into IR workflows."""
