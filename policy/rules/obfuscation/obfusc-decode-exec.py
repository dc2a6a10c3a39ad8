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


def legit(image_b64, Image, io, config_b64):
    # ok: obfusc-decode-exec
    img = Image.open(io.BytesIO(base64.b64decode(image_b64)))
    # ok: obfusc-decode-exec
    cfg = json.loads(base64.b64decode(config_b64))
    # ok: obfusc-decode-exec
    raw = zlib.decompress(open("shard.bin.z", "rb").read())
    # ok: obfusc-decode-exec
    tokens = torch.frombuffer(bytearray(raw), dtype=torch.int32)
    return img, cfg, tokens
