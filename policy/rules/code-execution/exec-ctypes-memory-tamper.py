import ctypes
import ctypes as ct
import mmap
from ctypes import memmove as mm

import numpy as np
import torch


def patch_flag(obj, value):
    # ruleid: exec-ctypes-memory-tamper
    ctypes.memmove(id(obj) + 24, ctypes.addressof(value), 8)
    # ruleid: exec-ctypes-memory-tamper
    ctypes.pythonapi.PyObject_SetAttr(ctypes.py_object(obj), b"x", None)
    # ruleid: exec-ctypes-memory-tamper
    ctypes.c_long.from_address(id(obj)).value = 0


def shellcode(code):
    # ruleid: exec-ctypes-memory-tamper
    buf = mmap.mmap(-1, len(code), prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    buf.write(code)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    # ruleid: exec-ctypes-memory-tamper
    fn = ctypes.cast(addr, ctypes.CFUNCTYPE(ctypes.c_int))
    # ruleid: exec-ctypes-memory-tamper
    return fn()


def evasive(dst, src, n):
    # ruleid: exec-ctypes-memory-tamper
    mm(dst, src, n)
    # ruleid: exec-ctypes-memory-tamper
    getattr(ct, "mem" + "set")(dst, 0, n)
    # ruleid: exec-ctypes-memory-tamper
    api = __import__("ctypes").pythonapi


def to_numpy_view(t: torch.Tensor):
    # ok: exec-ctypes-memory-tamper
    ptr = ctypes.cast(t.data_ptr(), ctypes.POINTER(ctypes.c_float))
    # ok: exec-ctypes-memory-tamper
    arr = np.ctypeslib.as_array(ptr, shape=(t.numel(),))
    # ok: exec-ctypes-memory-tamper
    nbytes = ctypes.sizeof(ctypes.c_float) * t.numel()
    # ok: exec-ctypes-memory-tamper
    with open("/data/shard.bin", "rb") as f:
        view = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return arr, nbytes, view
