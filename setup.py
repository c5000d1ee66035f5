"""The compiled parts: the syslog parser's fast path (collectors/syslog/_fastparse.c) and the
engine's NDJSON record count (collectors/common/_ndjson.c).

Everything else is in pyproject.toml. Both are optional: without a C compiler (or
Python's headers) `pip install -e .` still succeeds and the collector parses in pure Python,
saying so once in its log (collectors/syslog/fastpath.py), and the engine counts in Python.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "collectors.syslog._fastparse",
            ["collectors/syslog/_fastparse.c"],
            optional=True,
            libraries=["m"],
            extra_compile_args=["-O2", "-Wall", "-Wno-unused-function"],
        ),
        # Counting the records of each chunk the engine stores (collectors/common/ndjson.py).
        Extension(
            "collectors.common._ndjson", ["collectors/common/_ndjson.c"], optional=True, extra_compile_args=["-O2"]
        ),
    ]
)
