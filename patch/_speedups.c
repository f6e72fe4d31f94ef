/* Compiled attribute access for Patch's point processes and NetCons (optional).
 *
 * NEURON's hoc.HocObject reads and writes a variable of a *subclass* instance slowly: it
 * tries Python's generic look-up first, then NEURON's. A plain hoc.HocObject of the same
 * NEURON object (Patch's "plain view", see _hoc.plain_view) takes NEURON's fast path. The
 * Python __setattr__ that forwards to the plain view costs a Python frame; these types do
 * the common case in C and hand every other case to the same Python code.
 *
 * Both types have the layout of `object` (no fields), so a class can derive from one of
 * them and from hoc.HocObject. CPython then puts their slot functions in the class itself
 * (a class that does not define __setattr__ / __getattr__ in Python inherits the C slot):
 * the Python methods live under other names in the class, and the C code calls them.
 *
 * What a class provides (looked up through the class, so subclasses inherit it):
 *   _fast_set        frozenset: names set on the plain view when the value is a number
 *                    (NEURON's scalar variables)
 *   _fast_get        frozenset: names read from the plain view when the class has no
 *                    attribute of that name and the value is a float (Attributes only)
 *   _plain_view      the slot holding the plain view (None until first made)
 *   _python_setattr  function(self, name, value): every other set
 *   _python_getattr  function(self, name): a name NEURON does not know (optional)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

static PyObject *plain_view = NULL;    /* _hoc.plain_view, given by configure() */
static PyTypeObject *hoc_type = NULL;  /* hoc.HocObject, given by configure() */

static PyObject *str_fast_set, *str_fast_get, *str_plain_view, *str_python_setattr,
    *str_python_getattr;

/* The plain view of `self` (a new reference), made and stored on first use. */
static PyObject *plain_of(PyObject *self) {
    PyObject *descr = _PyType_Lookup(Py_TYPE(self), str_plain_view);
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type) ||
        ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "%.100s has no _plain_view slot",
                     Py_TYPE(self)->tp_name);
        return NULL;
    }
    PyObject **slot =
        (PyObject **)((char *)self + ((PyMemberDescrObject *)descr)->d_member->offset);
    PyObject *plain = *slot;
    if (plain != NULL && plain != Py_None) {
        Py_INCREF(plain);
        return plain;
    }
    if (plain_view == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "patch._speedups is not configured");
        return NULL;
    }
    plain = PyObject_CallOneArg(plain_view, self);
    if (plain == NULL) {
        return NULL;
    }
    Py_INCREF(plain);
    Py_XSETREF(*slot, plain);
    return plain;
}

/* Whether `name` is in the frozenset the class holds under `key`: 1, 0, or -1 (error). */
static int listed(PyTypeObject *type, PyObject *key, PyObject *name) {
    PyObject *names = _PyType_Lookup(type, key);
    if (names == NULL || !PyFrozenSet_CheckExact(names)) {
        return 0;
    }
    return PySet_Contains(names, name);
}

/* hoc.HocObject's own set (or delete: value NULL), as `hoc.HocObject.__setattr__(self, name,
 * value)` does for a class without these types. That call is refused once a class's slot
 * is one of these types' (CPython will not let a base's __setattr__ jump over a C
 * __setattr__), so the Python code calls hoc_setattr() instead. */
static int hoc_set(PyObject *self, PyObject *name, PyObject *value) {
    if (hoc_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "patch._speedups is not configured");
        return -1;
    }
    if (!PyObject_TypeCheck(self, hoc_type)) {  /* not a hoc object: Python's own set */
        return PyObject_GenericSetAttr(self, name, value);
    }
    int done = hoc_type->tp_setattro(self, name, value);
    return done == 0 && PyErr_Occurred() ? -1 : done;
}

static int setattro(PyObject *self, PyObject *name, PyObject *value) {
    PyTypeObject *type = Py_TYPE(self);
    if (value == NULL) {
        return hoc_set(self, name, NULL);
    }
    /* Only a number is set here: NEURON leaves an entry on its interpreter's stack for
     * every set it refuses (a thousand crash the process), so a value of another type
     * goes to the Python code, which NEURON refuses once, as without this module. */
    if (PyUnicode_CheckExact(name) && (PyFloat_Check(value) || PyLong_Check(value))) {
        int fast = listed(type, str_fast_set, name);
        if (fast < 0) {
            return -1;
        }
        if (fast) {
            PyObject *plain = plain_of(self);
            if (plain == NULL) {
                return -1;
            }
            int done = PyObject_SetAttr(plain, name, value);
            Py_DECREF(plain);
            if (done == 0 || !PyErr_ExceptionMatches(PyExc_TypeError)) {
                return done;
            }
            /* A number refused: the Python code sets again and words the error. */
            PyErr_Clear();
        }
    }
    PyObject *python = _PyType_Lookup(type, str_python_setattr);
    if (python == NULL) {
        PyErr_Format(PyExc_TypeError, "%.100s has no _python_setattr", type->tp_name);
        return -1;
    }
    PyObject *result = PyObject_CallFunctionObjArgs(python, self, name, value, NULL);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

static PyObject *hoc_setattr(PyObject *module, PyObject *args) {
    PyObject *self, *name, *value;
    if (!PyArg_ParseTuple(args, "OUO:hoc_setattr", &self, &name, &value)) {
        return NULL;
    }
    if (hoc_type != NULL && !PyObject_TypeCheck(self, hoc_type)) {
        PyErr_Format(PyExc_TypeError, "hoc_setattr: a hoc object is needed, not %.100s",
                     Py_TYPE(self)->tp_name);
        return NULL;
    }
    if (hoc_set(self, name, value) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *attributes_getattro(PyObject *self, PyObject *name) {
    PyTypeObject *type = Py_TYPE(self);
    if (hoc_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "patch._speedups is not configured");
        return NULL;
    }
    if (PyUnicode_CheckExact(name)) {
        int fast = listed(type, str_fast_get, name);
        if (fast < 0) {
            return NULL;
        }
        /* Only a name the class itself does not have (a property of a subclass wins). */
        if (fast && _PyType_Lookup(type, name) == NULL) {
            PyObject *plain = plain_of(self);
            if (plain == NULL) {
                return NULL;
            }
            PyObject *value = PyObject_GetAttr(plain, name);
            Py_DECREF(plain);
            if (value != NULL && PyFloat_CheckExact(value)) {
                return value;
            }
            /* Anything else (an error, not a number) is read the usual way below. */
            Py_XDECREF(value);
            PyErr_Clear();
        }
    }
    if (!PyObject_TypeCheck(self, hoc_type)) {  /* not a hoc object: Python's own look-up */
        return PyObject_GenericGetAttr(self, name);
    }
    PyObject *value = hoc_type->tp_getattro(self, name);
    if (value != NULL || !PyErr_ExceptionMatches(PyExc_AttributeError)) {
        return value;
    }
    /* A name NEURON does not know: the class's Python code says so (the look-up is made
     * with no exception set, as _PyType_Lookup needs). */
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *raised = PyErr_GetRaisedException();
    PyObject *python = _PyType_Lookup(type, str_python_getattr);
    if (python == NULL) {
        PyErr_SetRaisedException(raised);
        return NULL;
    }
    Py_XDECREF(raised);
#else
    PyObject *error_type, *error, *traceback;
    PyErr_Fetch(&error_type, &error, &traceback);
    PyObject *python = _PyType_Lookup(type, str_python_getattr);
    if (python == NULL) {
        PyErr_Restore(error_type, error, traceback);
        return NULL;
    }
    Py_XDECREF(error_type);
    Py_XDECREF(error);
    Py_XDECREF(traceback);
#endif
    return PyObject_CallFunctionObjArgs(python, self, name, NULL);
}

static PyTypeObject AttributesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "patch._speedups.Attributes",
    .tp_doc = PyDoc_STR("Compiled attribute reads and writes of NEURON's variables."),
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_getattro = attributes_getattro,
    .tp_setattro = setattro,
};

static PyTypeObject SetAttributesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "patch._speedups.SetAttributes",
    .tp_doc = PyDoc_STR("Compiled attribute writes of NEURON's variables."),
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_setattro = setattro,
};

static PyObject *configure(PyObject *module, PyObject *args) {
    PyObject *view, *base;
    if (!PyArg_ParseTuple(args, "OO!:configure", &view, &PyType_Type, &base)) {
        return NULL;
    }
    if (((PyTypeObject *)base)->tp_getattro == NULL ||
        ((PyTypeObject *)base)->tp_getattro == attributes_getattro) {
        PyErr_SetString(PyExc_TypeError, "configure: the hoc type must have its own getattro");
        return NULL;
    }
    Py_INCREF(view);
    Py_XSETREF(plain_view, view);
    Py_INCREF(base);
    Py_XSETREF(hoc_type, (PyTypeObject *)base);
    Py_RETURN_NONE;
}

static PyObject *compiled_slots(PyObject *module, PyObject *cls) {
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "compiled_slots: a class is needed");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    int set = type->tp_setattro == setattro;
    int get = type->tp_getattro == attributes_getattro;
    PyObject *names = PySet_New(NULL);
    if (names == NULL ||
        (set && PySet_Add(names, str_python_setattr) < 0) ||
        (get && PySet_Add(names, str_python_getattr) < 0)) {
        Py_XDECREF(names);
        return NULL;
    }
    PyObject *frozen = PyFrozenSet_New(names);
    Py_DECREF(names);
    return frozen;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     PyDoc_STR("configure(plain_view, hoc_type): the function that makes a plain view, "
               "and the hoc class whose look-up reads every other name.")},
    {"hoc_setattr", hoc_setattr, METH_VARARGS,
     PyDoc_STR("hoc_setattr(obj, name, value): hoc.HocObject's own set, which "
               "hoc.HocObject.__setattr__ is not allowed to do once a class's slot is "
               "compiled.")},
    {"compiled_slots", compiled_slots, METH_O,
     PyDoc_STR("compiled_slots(cls): which of cls's attribute slots are this module's C "
               "functions: a frozenset of '_python_setattr' and '_python_getattr' (the "
               "Python code each one stands in front of).")},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "patch._speedups",
    .m_doc = PyDoc_STR("Compiled attribute access for point processes and NetCons."),
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    if (!(str_fast_set = PyUnicode_InternFromString("_fast_set")) ||
        !(str_fast_get = PyUnicode_InternFromString("_fast_get")) ||
        !(str_plain_view = PyUnicode_InternFromString("_plain_view")) ||
        !(str_python_setattr = PyUnicode_InternFromString("_python_setattr")) ||
        !(str_python_getattr = PyUnicode_InternFromString("_python_getattr"))) {
        return NULL;
    }
    if (PyType_Ready(&AttributesType) < 0 || PyType_Ready(&SetAttributesType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&AttributesType);
    if (PyModule_AddObject(module, "Attributes", (PyObject *)&AttributesType) < 0) {
        Py_DECREF(&AttributesType);
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(&SetAttributesType);
    if (PyModule_AddObject(module, "SetAttributes", (PyObject *)&SetAttributesType) < 0) {
        Py_DECREF(&SetAttributesType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
