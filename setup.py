"""The one compiled part: the syslog parser's fast path (collectors/syslog/_fastparse.c).

Everything else is in pyproject.toml. The extension is optional: without a C compiler (or
Python's headers) `pip install -e .` still succeeds and the collector parses in pure Python,
saying so once in its log (collectors/syslog/fastpath.py).
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
        )
    ]
)
