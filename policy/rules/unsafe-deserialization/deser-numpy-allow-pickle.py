import functools

import numpy
import numpy as np
from numpy import load as npload


def load_features(path):
    # ruleid: deser-numpy-allow-pickle
    feats = np.load(path, allow_pickle=True)
    # ruleid: deser-numpy-allow-pickle
    meta = numpy.load(path + ".meta.npy", allow_pickle=True).item()
    return feats, meta


def evasive(path):
    ap = True
    # ruleid: deser-numpy-allow-pickle
    npload(path, allow_pickle=ap)
    # ruleid: deser-numpy-allow-pickle
    np.load(path, **{"allow_pickle": True})
    # ruleid: deser-numpy-allow-pickle
    loader = functools.partial(np.load, allow_pickle=1)
    # ruleid: deser-numpy-allow-pickle
    feats = functools.partial(np.load, mmap_mode="r", **{"allow_pickle": True})
    # ruleid: deser-numpy-allow-pickle
    np.load(path, None, True)
    # ruleid: deser-numpy-allow-pickle
    getattr(np, "lo" + "ad")(path, allow_pickle=True)


def load_shard(path):
    # ok: deser-numpy-allow-pickle
    tokens = np.load(path, mmap_mode="r")
    # ok: deser-numpy-allow-pickle
    labels = np.load(path.replace("tokens", "labels"), allow_pickle=False)
    # ok: deser-numpy-allow-pickle
    np.save(path + ".idx.npy", np.arange(len(tokens)))
    # ok: deser-numpy-allow-pickle
    with np.load(path + ".npz") as z:
        arrays = {k: z[k] for k in z.files}
    return tokens, labels, arrays
