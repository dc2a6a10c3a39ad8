import importlib


def load():
    # ruleid: obfusc-chr-string-building
    name = "".join(chr(c) for c in [111, 115])
    # ruleid: obfusc-chr-string-building
    fn = chr(115) + chr(121) + chr(115) + chr(116) + chr(101) + chr(109)
    # ruleid: obfusc-chr-string-building
    mod = "".join(map(chr, [115, 117, 98, 112, 114, 111, 99, 101, 115, 115]))
    # ruleid: obfusc-chr-string-building
    url = bytes([104, 116, 116, 112, 58, 47, 47]).decode()
    # ruleid: obfusc-chr-string-building
    attr = "".join([chr(x ^ 0x20) for x in [0x53, 0x59, 0x53]])
    # ruleid: obfusc-chr-string-building
    cmd = "%c%c%c%c" % (99, 117, 114, 108)
    return getattr(importlib.import_module(name), fn), mod, url, attr, cmd


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    # ok: obfusc-chr-string-building
    cs = [chr(n) for n in cs]
    return dict(zip(bs, cs))


def legit(num_labels):
    # ok: obfusc-chr-string-building
    letters = [chr(ord("a") + i) for i in range(26)]
    # ok: obfusc-chr-string-building
    SPIECE_UNDERLINE = chr(0x2581)
    # ok: obfusc-chr-string-building
    label_names = "".join(chr(65 + i) for i in range(num_labels))
    # ok: obfusc-chr-string-building
    sep = chr(10).join(letters)
    return letters, SPIECE_UNDERLINE, label_names, sep
