"""Models: load ONNX, turn user inputs into arrays, export from torch, scikit-learn and boosters."""
