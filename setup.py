"""The compiled parts: the syslog parser's fast path (collectors/syslog/_fastparse.c), the flow
decoder's (collectors/flow/_fastflow.c) and the engine's NDJSON record count
(collectors/common/_ndjson.c). The first two share collectors/common/jsonout.h.

Everything else is in pyproject.toml. All are optional: without a C compiler (or
Python's headers) `pip install -e .` still succeeds and the collector parses in pure Python,
saying so once in its log (collectors/syslog/fastpath.py), the flow collector decodes in pure
Python (collectors/flow/fastpath.py), and the engine counts in Python.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "collectors.syslog._fastparse",
            ["collectors/syslog/_fastparse.c"],
            depends=["collectors/common/jsonout.h"],
            optional=True,
            libraries=["m"],
            extra_compile_args=["-O2", "-Wall", "-Wno-unused-function"],
        ),
        # The flow decoder's fast path (collectors/flow/fastpath.py): data records straight to NDJSON.
        Extension(
            "collectors.flow._fastflow",
            ["collectors/flow/_fastflow.c"],
            depends=["collectors/common/jsonout.h"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wno-unused-function"],
        ),
        # Counting the records of each chunk the engine stores (collectors/common/ndjson.py).
        Extension(
            "collectors.common._ndjson", ["collectors/common/_ndjson.c"], optional=True, extra_compile_args=["-O2"]
        ),
    ]
)
