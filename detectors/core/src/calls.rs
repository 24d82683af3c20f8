//! Calls into Python and events built for it, without the tuples that PyO3's calls and
//! `tuple.__new__` make on the way: the core calls detectors several times per event, and the
//! decoder builds an Event per message.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};

const MOST_ARGS: usize = 3;

/// `callable(*args)` by the vectorcall protocol: the arguments go as an array, not a new tuple.
pub(crate) fn call(py: Python<'_>, callable: &PyObject, args: &[&PyObject]) -> PyResult<PyObject> {
    assert!(args.len() <= MOST_ARGS, "at most {MOST_ARGS} arguments");
    // Slot 0 is the callee's to use (PY_VECTORCALL_ARGUMENTS_OFFSET): a bound method puts its
    // `self` there instead of copying the arguments.
    let mut slots = [std::ptr::null_mut(); MOST_ARGS + 1];
    for (slot, arg) in slots[1..].iter_mut().zip(args) {
        *slot = arg.as_ptr();
    }
    // SAFETY: the arguments are borrowed for the call's length and the callee takes its own
    // references; the array outlives the call and slot 0 may be written by the callee.
    unsafe {
        let result = ffi::PyObject_Vectorcall(
            callable.as_ptr(),
            slots.as_mut_ptr().add(1),
            args.len() | ffi::PY_VECTORCALL_ARGUMENTS_OFFSET,
            std::ptr::null_mut(),
        );
        PyObject::from_owned_ptr_or_err(py, result)
    }
}

/// An instance of `class`, a subclass of tuple such as Event, holding `items`: what
/// `tuple.__new__(class, items)` makes, without first making a plain tuple of the items.
pub(crate) fn new_tuple_of<const N: usize>(
    class: &Bound<'_, PyType>,
    items: [Bound<'_, PyAny>; N],
) -> PyResult<PyObject> {
    let py = class.py();
    let class_ptr = class.as_type_ptr();
    // SAFETY: `class` is a tuple subclass (`tuple_class` checked it), so its allocation is a
    // tuple of N items (as tuple.__new__ allocates it), each set once, with its reference.
    unsafe {
        let alloc = (*class_ptr).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
        let made = alloc(class_ptr, N as ffi::Py_ssize_t);
        if made.is_null() {
            return Err(PyErr::fetch(py));
        }
        for (index, item) in items.into_iter().enumerate() {
            ffi::PyTuple_SET_ITEM(made, index as ffi::Py_ssize_t, item.into_ptr());
        }
        Ok(PyObject::from_owned_ptr(py, made))
    }
}

/// `class`, checked to be a subclass of tuple that adds no fields of its own, as a NamedTuple
/// is: only such a class is built by `new_tuple_of`.
pub(crate) fn tuple_class(class: Bound<'_, PyType>) -> PyResult<Py<PyType>> {
    let py = class.py();
    let tuple = py.get_type_bound::<PyTuple>();
    // SAFETY: reading the sizes of two live type objects.
    let same_layout = unsafe {
        (*class.as_type_ptr()).tp_basicsize == (*tuple.as_type_ptr()).tp_basicsize
            && (*class.as_type_ptr()).tp_itemsize == (*tuple.as_type_ptr()).tp_itemsize
    };
    if !class.is_subclass(&tuple)? || !same_layout {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{} is not a tuple class without fields of its own",
            class.name()?
        )));
    }
    Ok(class.unbind())
}
