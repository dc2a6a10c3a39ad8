import base64
import codecs
import json
import marshal
import pickle
import types
import zlib
from base64 import b64decode as _d

import torch

PAYLOAD = "aW1wb3J0IG9zOyBwcmludCgxKQ=="


def apply_patches():
    # ruleid: obfusc-decode-exec
    exec(base64.b64decode(PAYLOAD))
    src = zlib.decompress(bytes.fromhex("789c2b28cacc2bd150b2b4b43200000bd802c8")).decode()
    # ruleid: obfusc-decode-exec
    exec(compile(src, "<patch>", "exec"))
    # ruleid: obfusc-decode-exec
    eval(codecs.decode("cevag('uryyb')", "rot13"))
    # ruleid: obfusc-decode-exec
    code = marshal.loads(_d(PAYLOAD))
    # ruleid: obfusc-decode-exec
    fn = types.FunctionType(code, globals())
    # ruleid: obfusc-decode-exec
    (lambda s: exec(s))(_d(PAYLOAD).decode())
    # ruleid: obfusc-decode-exec
    state = pickle.loads(base64.b64decode(PAYLOAD))
    # ruleid: obfusc-decode-exec
    exec(")1(tnirp"[::-1])
    return fn, state


def rebuild(fn, blob):
    # Issue #16: a code object built from decoded bytecode. The CodeType
    # sink had no $X to focus on, so it could never match.
    # ruleid: obfusc-decode-exec
    co = types.CodeType(0, 0, 0, 0, 2, 64, base64.b64decode(blob), (None,), (), (), "", "", "", 1, b"", b"", (), ())
    # ruleid: obfusc-decode-exec
    fn.__code__ = fn.__code__.replace(co_code=zlib.decompress(blob))
    # ruleid: obfusc-decode-exec
    again = type(fn.__code__)(0, 0, 0, 0, 2, 64, _d(blob), (), (), (), "", "", "", 1, b"", b"", (), ())
    return co, again


def legit(image_b64, Image, io, config_b64):
    # ok: obfusc-decode-exec
    img = Image.open(io.BytesIO(base64.b64decode(image_b64)))
    # ok: obfusc-decode-exec
    cfg = json.loads(base64.b64decode(config_b64))
    # ok: obfusc-decode-exec
    raw = zlib.decompress(open("shard.bin.z", "rb").read())
    # ok: obfusc-decode-exec
    tokens = torch.frombuffer(bytearray(raw), dtype=torch.int32)
    # ok: obfusc-decode-exec
    name = base64.b64decode(config_b64).decode().replace("-", "_")
    # ok: obfusc-decode-exec
    code = legit.__code__.replace(co_name=name)
    # ok: obfusc-decode-exec
    co = types.CodeType(0, 0, 0, 0, 2, 64, legit.__code__.co_code, (None,), (), (), "f", "f", "f", 1, b"", b"", (), ())
    return img, cfg, tokens, code, co
