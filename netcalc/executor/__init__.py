"""The NumPy executor: runs a spec forward and backward on the CPU and measures what happens.

An independent check of the analytic engine. It shares only the parsed, expanded graph
(`netcalc.graph`) and the parsed initialiser names (`netcalc.initializers.InitSpec`): kernels import only
NumPy, create their weight arrays from their own knowledge of each layer, sample them with their
own code (`weights.py`), count multiply-accumulates from the products they really compute, and
never read a figure from `netcalc.layers` or `netcalc.analyze`.
"""
