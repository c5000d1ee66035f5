/* The engine's passes over each NDJSON chunk a collector sends, with memchr; ndjson.py has the
 * Python reference of each.
 *
 * records(chunk): how many newline-joined records `chunk` holds, or -1 when one of them is
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

/* cuts(chunk, size): where the engine cuts a chunk into segment pieces of about `size` bytes,
 * at record bounds, and the records of each: [(end, records), ...], as ndjson.cuts_reference. */
static PyObject *cuts(PyObject *module, PyObject *args) {
    Py_buffer view;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "y*n", &view, &size)) return NULL;
    const char *s = view.buf;
    Py_ssize_t len = view.len, start = 0, step = size - 1 > 1 ? size - 1 : 1;
    PyObject *out = PyList_New(0);
    while (out != NULL && start < len) {
        Py_ssize_t from = start + step, end = len;
        if (from < len) {
            const char *cut = memchr(s + from, '\n', (size_t)(len - from));
            if (cut != NULL) end = cut - s;
        }
        Py_ssize_t count = 1;
        const char *p = s + start, *stop = s + end;
        while ((p = memchr(p, '\n', (size_t)(stop - p))) != NULL) {
            count++;
            p++;
        }
        PyObject *piece = Py_BuildValue("(nn)", end, count);
        if (piece == NULL || PyList_Append(out, piece) < 0) Py_CLEAR(out);
        Py_XDECREF(piece);
        start = end + 1;
    }
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"records", records, METH_O, "records(chunk) -> number of newline-joined records, -1 if one is empty"},
    {"cuts", cuts, METH_VARARGS, "cuts(chunk, size) -> [(end, records), ...]: the segment pieces of chunk"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_ndjson", "Counting NDJSON records at C speed (see ndjson.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ndjson(void) { return PyModule_Create(&moduledef); }
