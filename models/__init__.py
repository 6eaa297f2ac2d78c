"""The model zoo: real models trained on data sets that scikit-learn ships (no downloads)."""
