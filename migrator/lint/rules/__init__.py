"""The lint rules, one module per family. Each rule's docstring is its documentation."""
