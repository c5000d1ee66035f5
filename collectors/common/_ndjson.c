/* records(chunk): how many newline-joined records `chunk` holds, or -1 when one of them is
 * empty (a newline first, last or doubled). What collectors/common/ndjson.py computes in
 * Python, with memchr: the engine runs it on every chunk a collector sends. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *records(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const char *s = view.buf, *end = s + view.len;
    Py_ssize_t count = -1;
    if (view.len > 0 && s[0] != '\n' && end[-1] != '\n') {
        count = 1;
        const char *p = s;
        while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            if (p[1] == '\n') { /* p < end - 1: the last byte is not a newline */
                count = -1;
                break;
            }
            count++;
            p++;
        }
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(count);
}

static PyMethodDef methods[] = {
    {"records", records, METH_O, "records(chunk) -> number of newline-joined records, -1 if one is empty"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_ndjson", "Counting NDJSON records at C speed (see ndjson.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ndjson(void) { return PyModule_Create(&moduledef); }
