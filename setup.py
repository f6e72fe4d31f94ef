"""The optional compiled part of Patch (everything else is in pyproject.toml).

``patch._speedups`` makes attribute access on point processes and NetCons cheaper; when
it cannot be built (no C compiler, no Python headers) the installation goes on without
it and Patch uses its pure-Python code.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("patch._speedups", ["patch/_speedups.c"], optional=True)])
