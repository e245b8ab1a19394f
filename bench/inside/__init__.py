"""Programs run inside the web container: bench/stack.py (derive) adds them to its image."""
