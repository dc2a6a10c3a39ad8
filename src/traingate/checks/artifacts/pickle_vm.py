"""The pickle machine: a symbolic unpickler that names every global a real load imports.

(Over 600 lines: one handler per pickle opcode over one simulated stack, mark
stack and memo; split, the invariants they share would be spread over modules.)
"""

from __future__ import annotations

import _compat_pickle
import codecs
import pickle
import pickletools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from traingate.checks.artifacts.common import (
    _ZIP_LOCAL,
    RULE_PICKLE_GLOBAL,
    RULE_PICKLE_SUSPICIOUS,
    _Ctx,
    _is_dotted_identifier,
    _TooLarge,
)


class _Malformed(Exception):
    """The stream stops here (the real unpickler raises at the same opcode)."""


class _Str:
    """A str value pushed by a string opcode (the only valid STACK_GLOBAL operand)."""

    __slots__ = ("exact", "value")

    def __init__(self, value: str, exact: bool = True) -> None:
        self.value = value
        # False when the text depends on the loader's ``encoding=`` argument.
        self.exact = exact


class _Global:
    """An imported object (the result of GLOBAL/STACK_GLOBAL/INST's lookup/EXT)."""

    __slots__ = ("qualname",)

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname


_OTHER: Final = object()  # any value whose content does not matter


@dataclass
class _Finding:
    rule: str
    key: str
    text: str
    opname: str
    offset: int
    plausible: bool
    count: int = 1


@dataclass
class _Payload:
    data: bytes
    start: int
    end: int
    opname: str
    offset: int
    kind: str  # "pickle" or "zip"


@dataclass
class _StreamResult:
    findings: list[_Finding]
    payloads: list[_Payload]
    error: str | None
    soft_errors: list[str]
    stopped: bool
    end: int
    too_large: str | None


_OPNAMES: Final[dict[int, str]] = {ord(op.code): op.name for op in pickletools.opcodes}


class _PickleMachine:
    """Walks one pickle stream ``buf[start:end]`` the way ``pickle._Unpickler`` does.

    Values are abstract: :class:`_Str` for text (so STACK_GLOBAL operands can be
    resolved, through DUP and the memo), :class:`_Global` for imported objects,
    and :data:`_OTHER` for everything else.  Each opcode pops and pushes exactly
    what CPython's ``Lib/pickle.py`` does and raises :class:`_Malformed` exactly
    where it would raise, so the stack stays aligned with the real loader's.
    """

    def __init__(self, ctx: _Ctx, buf: bytes, start: int, end: int) -> None:
        self.ctx = ctx
        self.buf = buf
        self.start = start
        self.pos = start
        self.end = end
        self.stack: list[object] = []
        self.metastack: list[list[object]] = []
        self.memo: dict[int, object] = {}
        self.proto = 0
        self.frame_end = -1
        self.op_offset = start
        self.opname = ""
        self.findings: dict[tuple[str, str], _Finding] = {}
        self.payloads: list[_Payload] = []
        self.soft_errors: list[str] = []
        self.plausible_seen = False

    # -- reporting ---------------------------------------------------------

    def _find(self, rule: str, key: str, text: str, plausible: bool) -> None:
        found = self.findings.get((rule, key))
        if found is not None:
            found.count += 1
            return
        self.findings[(rule, key)] = _Finding(
            rule, key, text, self.opname, self.op_offset - self.start, plausible
        )

    def _suspicious(self, key: str, text: str) -> None:
        self._find(RULE_PICKLE_SUSPICIOUS, key, text, self.plausible_seen)

    # -- byte reading --------------------------------------------------------

    def _check_frame(self, begin: int, stop: int) -> None:
        # pickle._Unframer refuses a read that starts inside a frame and ends
        # past it; the C unpickler reading from a file silently drops the
        # in-frame part and re-reads from the file, so the two loaders see
        # different opcodes.  Never legitimate (pickle frames end on opcode
        # boundaries): report it as an evasion and carry on linearly.
        if begin < self.frame_end < stop:
            self.soft_errors.append(
                f"{self.opname} at offset {self.op_offset - self.start} straddles the end of a"
                " protocol-4 frame"
            )
            self._find(
                RULE_PICKLE_SUSPICIOUS,
                "frame-straddle",
                "an opcode straddles a pickle frame boundary: CPython's C unpickler reads"
                " different bytes here than pickle.py and every linear scanner (scanner"
                " evasion)",
                True,
            )

    def _take(self, n: int) -> int:
        p = self.pos
        q = p + n
        if q > self.end:
            raise _Malformed(f"truncated {self.opname} argument")
        self._check_frame(p, q)
        self.pos = q
        return p

    def _u(self, n: int, fmt: str) -> int:
        p = self._take(n)
        value: int = struct.unpack_from(fmt, self.buf, p)[0]
        return value

    def _line(self) -> tuple[bytes, bool]:
        """Return (line without newline, complete) with pickle.py's EOF semantics."""
        p = self.pos
        nl = self.buf.find(b"\n", p, self.end)
        if nl < 0:
            # readline() at EOF returns the partial line and pickle.py chops
            # its last byte as if it were the newline.
            self.pos = self.end
            return self.buf[p : self.end][:-1], False
        self._check_frame(p, nl + 1)
        self.pos = nl + 1
        return self.buf[p:nl], True

    def _full_line(self) -> bytes:
        line, complete = self._line()
        if not complete:
            raise _Malformed(f"truncated {self.opname} argument (no newline)")
        return line

    def _bytes(self, n: int) -> tuple[int, int]:
        if n > self.end - self.pos:
            raise _Malformed(f"truncated {self.opname} payload ({n} bytes declared)")
        p = self._take(n)
        return p, p + n

    # -- stack -------------------------------------------------------------

    def _push(self, value: object) -> None:
        self.stack.append(value)

    def _pop(self) -> object:
        if not self.stack:
            raise _Malformed(f"{self.opname} on an empty stack")
        return self.stack.pop()

    def _top(self) -> object:
        if not self.stack:
            raise _Malformed(f"{self.opname} on an empty stack")
        return self.stack[-1]

    def _pop_mark(self) -> list[object]:
        if not self.metastack:
            raise _Malformed(f"{self.opname} without a MARK")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def _memo_put(self, index: int) -> None:
        value = self._top()
        if index not in self.memo and len(self.memo) >= self.ctx.limits.max_memo_entries:
            raise _TooLarge(f"more than {self.ctx.limits.max_memo_entries} memo entries")
        self.memo[index] = value

    def _memo_get(self, index: int) -> None:
        try:
            self._push(self.memo[index])
        except KeyError:
            raise _Malformed(f"{self.opname} of memo index {index} that was never stored") from None

    # -- payloads ----------------------------------------------------------

    def _bytes_payload(self, begin: int, stop: int) -> None:
        buf = self.buf
        if stop - begin < 4:
            return
        if buf[begin] == 0x80 and 2 <= buf[begin + 1] <= 5:
            kind = "pickle"
        elif buf.startswith(_ZIP_LOCAL, begin, stop):
            kind = "zip"
        else:
            return
        self.payloads.append(
            _Payload(buf, begin, stop, self.opname, self.op_offset - self.start, kind)
        )

    def _str_payload(self, text: str) -> None:
        if len(text) < 4 or not (
            (text[0] == "\x80" and "\x02" <= text[1] <= "\x05") or text.startswith("PK\x03\x04")
        ):
            return
        try:
            raw = text.encode("latin-1")
        except UnicodeEncodeError:
            return
        self._bytes_payload_from(raw)

    def _bytes_payload_from(self, raw: bytes) -> None:
        kind = "zip" if raw.startswith(_ZIP_LOCAL) else "pickle"
        self.payloads.append(
            _Payload(raw, 0, len(raw), self.opname, self.op_offset - self.start, kind)
        )

    # -- imports -----------------------------------------------------------

    def _import(self, module: str, name: str, note: str = "") -> _Global:
        written = f"{module}.{name}"
        if self.proto < 3:  # Unpickler(fix_imports=True), the default everywhere
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        qualname = f"{module}.{name}"
        identifier_like = _is_dotted_identifier(module) and _is_dotted_identifier(name)
        if (module, name) not in self.ctx.allowed:
            extra = f" (written as {written})" if written != qualname else ""
            self._find(
                RULE_PICKLE_GLOBAL,
                qualname,
                f"pickle imports {qualname} (not on the allow list){extra}{note}",
                identifier_like or self.plausible_seen,
            )
        if identifier_like:
            self.plausible_seen = True
        return _Global(qualname)

    @staticmethod
    def _describe(value: object) -> str:
        if isinstance(value, _Str):
            return repr(value.value) + ("" if value.exact else " (encoding-dependent)")
        if isinstance(value, _Global):
            return f"the object {value.qualname}"
        return "a computed value"

    def _require_global(self, value: object, what: str) -> None:
        if not isinstance(value, _Global):
            self._suspicious(
                f"call:{self.opname}",
                f"{self.opname} {what} a value that is not an imported global (a computed"
                " callable cannot be vetted)",
            )

    def _mutates(self, target: object) -> None:
        if isinstance(target, _Global):
            self._suspicious(
                f"mutate:{self.opname}:{target.qualname}",
                f"{self.opname} modifies the imported object {target.qualname} itself"
                " (monkey-patching a library object)",
            )

    # -- opcode handlers -----------------------------------------------------

    def op_mark(self) -> None:
        if len(self.metastack) >= self.ctx.limits.max_mark_depth:
            raise _TooLarge(f"MARK nesting deeper than {self.ctx.limits.max_mark_depth}")
        self.metastack.append(self.stack)
        self.stack = []

    def op_pop(self) -> None:
        if self.stack:
            self.stack.pop()
        else:
            self._pop_mark()

    def op_pop_mark(self) -> None:
        self._pop_mark()

    def op_dup(self) -> None:
        self._push(self._top())

    def op_proto(self) -> None:
        proto = self.buf[self._take(1)]
        if proto > pickle.HIGHEST_PROTOCOL:
            raise _Malformed(f"unsupported pickle protocol {proto}")
        self.proto = proto

    def op_frame(self) -> None:
        size = self._u(8, "<Q")
        if size > (1 << 63) - 1:
            raise _Malformed("FRAME size larger than sys.maxsize")
        if self.pos < self.frame_end:
            self.soft_errors.append("FRAME begins before the previous frame ends")
        if size > self.end - self.pos:
            # The C unpickler refuses this; pickle.py runs the short frame.
            self.soft_errors.append(f"FRAME declares {size} bytes but only {self.end - self.pos}")
        self.frame_end = self.pos + size

    def op_none(self) -> None:
        self._push(_OTHER)

    def op_int_line(self) -> None:  # INT, LONG, FLOAT: value irrelevant
        self._line()
        self._push(_OTHER)

    def op_fixed(self, n: int) -> None:
        self._take(n)
        self._push(_OTHER)

    def op_long1(self) -> None:
        n = self.buf[self._take(1)]
        self._bytes(n)
        self._push(_OTHER)

    def op_long4(self) -> None:
        n = self._u(4, "<i")
        if n < 0:
            raise _Malformed("LONG4 with a negative byte count")
        self._bytes(n)
        self._push(_OTHER)

    def _push_string_bytes(self, begin: int, stop: int) -> None:
        # STRING/BINSTRING/SHORT_BINSTRING decode with the loader's encoding=
        # (ASCII by default, utf-8 for torch.load, latin-1 for numpy's py2 mode).
        raw = self.buf[begin:stop]
        if raw.isascii():
            self._push(_Str(raw.decode("ascii")))
        else:
            self._push(_Str(raw.decode("latin-1"), exact=False))
        self._bytes_payload(begin, stop)

    def op_string(self) -> None:
        data = self._full_line()
        if len(data) >= 2 and data[0] == data[-1] and data[0] in b"\"'":
            data = data[1:-1]
        else:
            raise _Malformed("the STRING opcode argument must be quoted")
        try:
            decoded: bytes = codecs.escape_decode(data)[0]
        except ValueError as exc:
            raise _Malformed(f"STRING escape error: {exc}") from None
        if decoded.isascii():
            self._push(_Str(decoded.decode("ascii")))
        else:
            self._push(_Str(decoded.decode("latin-1"), exact=False))
        if len(decoded) >= 4 and (
            (decoded[0] == 0x80 and 2 <= decoded[1] <= 5) or decoded.startswith(_ZIP_LOCAL)
        ):
            self._bytes_payload_from(decoded)

    def op_binstring(self) -> None:
        n = self._u(4, "<i")
        if n < 0:
            raise _Malformed("BINSTRING with a negative byte count")
        self._push_string_bytes(*self._bytes(n))

    def op_short_binstring(self) -> None:
        n = self.buf[self._take(1)]
        self._push_string_bytes(*self._bytes(n))

    def _push_unicode(self, begin: int, stop: int) -> None:
        try:
            text = str(self.buf[begin:stop], "utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise _Malformed(f"{self.opname} payload is not valid UTF-8") from None
        self._push(_Str(text))
        self._str_payload(text)

    def op_unicode(self) -> None:
        line = self._full_line()
        try:
            text = str(line, "raw-unicode-escape")
        except UnicodeDecodeError:
            raise _Malformed("UNICODE argument does not decode") from None
        self._push(_Str(text))
        self._str_payload(text)

    def op_binunicode(self) -> None:
        self._push_unicode(*self._bytes(self._u(4, "<I")))

    def op_short_binunicode(self) -> None:
        self._push_unicode(*self._bytes(self.buf[self._take(1)]))

    def op_binunicode8(self) -> None:
        self._push_unicode(*self._bytes(self._u(8, "<Q")))

    def _push_bytes(self, begin: int, stop: int) -> None:
        self._push(_OTHER)
        self._bytes_payload(begin, stop)

    def op_binbytes(self) -> None:
        self._push_bytes(*self._bytes(self._u(4, "<I")))

    def op_short_binbytes(self) -> None:
        self._push_bytes(*self._bytes(self.buf[self._take(1)]))

    def op_binbytes8(self) -> None:
        self._push_bytes(*self._bytes(self._u(8, "<Q")))

    def op_next_buffer(self) -> None:
        self._push(_OTHER)

    def op_readonly_buffer(self) -> None:
        self._top()
        self.stack[-1] = _OTHER

    def op_tuple(self) -> None:
        self._pop_mark()
        self._push(_OTHER)

    def op_tuple_n(self, n: int) -> None:
        if len(self.stack) < n:
            raise _Malformed(f"{self.opname} on a stack with fewer than {n} items")
        del self.stack[len(self.stack) - n :]
        self._push(_OTHER)

    def op_list_from_mark(self) -> None:  # LIST, FROZENSET
        self._pop_mark()
        self._push(_OTHER)

    def op_dict(self) -> None:
        items = self._pop_mark()
        if len(items) % 2:
            raise _Malformed("DICT with an odd number of items")
        self._push(_OTHER)

    def op_persid(self) -> None:
        line = self._full_line()
        if not line.isascii():
            raise _Malformed("PERSID argument is not ASCII")
        self._push(_OTHER)

    def op_binpersid(self) -> None:
        self._pop()
        self._push(_OTHER)

    def op_reduce(self) -> None:
        self._pop()
        func = self._top()
        self._require_global(func, "calls")
        self.stack[-1] = _OTHER

    def op_build(self) -> None:
        self._pop()
        self._mutates(self._top())

    def op_global(self) -> None:
        module_raw, complete = self._line()
        name_raw, complete2 = self._line() if complete else (b"", False)
        try:
            module = module_raw.decode("utf-8")
            name = name_raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed("GLOBAL module/name is not UTF-8") from None
        note = "" if complete and complete2 else " (truncated at end of data)"
        self._push(self._import(module, name, note))
        if not (complete and complete2):
            raise _Malformed("truncated GLOBAL argument")

    def op_stack_global(self) -> None:
        name = self._pop()
        module = self._pop()
        if isinstance(module, _Str) and isinstance(name, _Str) and module.exact and name.exact:
            self._push(self._import(module.value, name.value))
            return
        self._find(
            RULE_PICKLE_GLOBAL,
            "unresolved-stack-global",
            "STACK_GLOBAL operands cannot be resolved statically (module "
            f"{self._describe(module)}, name {self._describe(name)}): the import cannot be"
            " vetted",
            self.plausible_seen or isinstance(module, _Str) or isinstance(name, _Str),
        )
        self._push(_Global("<unresolved>"))

    def op_inst(self) -> None:
        module_raw, complete = self._line()
        name_raw, complete2 = self._line() if complete else (b"", False)
        if not (module_raw.isascii() and name_raw.isascii()):
            raise _Malformed("INST module/name is not ASCII")
        note = "" if complete and complete2 else " (truncated at end of data)"
        self._import(module_raw.decode("ascii"), name_raw.decode("ascii"), note)
        if not (complete and complete2):
            raise _Malformed("truncated INST argument")
        self._pop_mark()
        self._push(_OTHER)

    def op_obj(self) -> None:
        args = self._pop_mark()
        if not args:
            raise _Malformed("OBJ without a class")
        self._require_global(args[0], "instantiates")
        self._push(_OTHER)

    def op_newobj(self) -> None:
        self._pop()
        cls = self._pop()
        self._require_global(cls, "instantiates")
        self._push(_OTHER)

    def op_newobj_ex(self) -> None:
        self._pop()
        self._pop()
        cls = self._pop()
        self._require_global(cls, "instantiates")
        self._push(_OTHER)

    def op_ext(self, n: int, fmt: str) -> None:
        code = self._u(n, fmt)
        self._find(
            RULE_PICKLE_GLOBAL,
            f"ext:{code}",
            f"pickle imports extension-registry code {code} via {self.opname} (copyreg"
            " extension codes resolve to arbitrary globals; not on the allow list)",
            self.plausible_seen,
        )
        self._push(_Global(f"<extension {code}>"))

    def _line_index(self) -> int:
        # The C unpickler parses the line with PyLong_FromString on a
        # NUL-terminated copy, so "10\x00junk" means 10 there while pickle.py
        # rejects it: follow C (the superset) so the memo stays aligned.
        line = self._full_line().split(b"\x00", 1)[0]
        try:
            return int(line)
        except ValueError:
            raise _Malformed(f"{self.opname} index is not an integer") from None

    def op_get(self) -> None:
        self._memo_get(self._line_index())

    def op_binget(self) -> None:
        self._memo_get(self.buf[self._take(1)])

    def op_long_binget(self) -> None:
        self._memo_get(self._u(4, "<I"))

    def op_put(self) -> None:
        index = self._line_index()
        if index < 0:
            raise _Malformed("negative PUT index")
        self._memo_put(index)

    def op_binput(self) -> None:
        self._memo_put(self.buf[self._take(1)])

    def op_long_binput(self) -> None:
        self._memo_put(self._u(4, "<I"))

    def op_memoize(self) -> None:
        self._memo_put(len(self.memo))

    def op_append(self) -> None:
        self._pop()
        self._mutates(self._top())

    def op_appends(self) -> None:
        self._pop_mark()
        self._mutates(self._top())

    def op_setitem(self) -> None:
        self._pop()
        self._pop()
        self._mutates(self._top())

    def op_setitems(self) -> None:
        items = self._pop_mark()
        target = self._top()
        self._mutates(target)
        if len(items) % 2:
            raise _Malformed("SETITEMS with an odd number of items")

    def op_additems(self) -> None:
        self._pop_mark()
        self._mutates(self._top())

    # -- driver ------------------------------------------------------------

    def run(self) -> _StreamResult:
        table = _DISPATCH
        buf = self.buf
        ctx = self.ctx
        error: str | None = None
        too_large: str | None = None
        stopped = False
        ops = 0
        budget = ctx.ops_left
        stop_op = pickle.STOP[0]
        try:
            while True:
                pos = self.pos
                if pos >= self.end:
                    raise _Malformed("truncated: the data ends before a STOP opcode")
                op = buf[pos]
                self.op_offset = pos
                self.pos = pos + 1
                ops += 1
                if ops > budget:
                    raise _TooLarge(f"more than {ctx.limits.max_opcodes} pickle opcodes")
                if op == stop_op:
                    self.opname = "STOP"
                    self._pop()
                    stopped = True
                    break
                handler = table[op]
                if handler is None:
                    raise _Malformed(f"unknown opcode 0x{op:02x}")
                self.opname = _OPNAMES[op]
                handler(self)
        except _Malformed as exc:
            error = f"{exc} (offset {self.op_offset - self.start})"
        except _TooLarge as exc:
            too_large = str(exc)
        ctx.ops_left = max(0, budget - ops)
        return _StreamResult(
            findings=list(self.findings.values()),
            payloads=self.payloads,
            error=error,
            soft_errors=self.soft_errors,
            stopped=stopped,
            end=self.pos,
            too_large=too_large,
        )


def _build_dispatch() -> list[Callable[[_PickleMachine], None] | None]:
    m = _PickleMachine
    p = pickle
    table: list[Callable[[_PickleMachine], None] | None] = [None] * 256

    def fixed(n: int) -> Callable[[_PickleMachine], None]:
        return lambda self: self.op_fixed(n)

    def tuple_n(n: int) -> Callable[[_PickleMachine], None]:
        return lambda self: self.op_tuple_n(n)

    def ext(n: int, fmt: str) -> Callable[[_PickleMachine], None]:
        return lambda self: self.op_ext(n, fmt)

    entries: dict[bytes, Callable[[_PickleMachine], None]] = {
        p.MARK: m.op_mark,
        p.POP: m.op_pop,
        p.POP_MARK: m.op_pop_mark,
        p.DUP: m.op_dup,
        p.FLOAT: m.op_int_line,
        p.INT: m.op_int_line,
        p.BININT: fixed(4),
        p.BININT1: fixed(1),
        p.LONG: m.op_int_line,
        p.BININT2: fixed(2),
        p.NONE: m.op_none,
        p.PERSID: m.op_persid,
        p.BINPERSID: m.op_binpersid,
        p.REDUCE: m.op_reduce,
        p.STRING: m.op_string,
        p.BINSTRING: m.op_binstring,
        p.SHORT_BINSTRING: m.op_short_binstring,
        p.UNICODE: m.op_unicode,
        p.BINUNICODE: m.op_binunicode,
        p.APPEND: m.op_append,
        p.BUILD: m.op_build,
        p.GLOBAL: m.op_global,
        p.DICT: m.op_dict,
        p.EMPTY_DICT: m.op_none,
        p.APPENDS: m.op_appends,
        p.GET: m.op_get,
        p.BINGET: m.op_binget,
        p.INST: m.op_inst,
        p.LONG_BINGET: m.op_long_binget,
        p.LIST: m.op_list_from_mark,
        p.EMPTY_LIST: m.op_none,
        p.OBJ: m.op_obj,
        p.PUT: m.op_put,
        p.BINPUT: m.op_binput,
        p.LONG_BINPUT: m.op_long_binput,
        p.SETITEM: m.op_setitem,
        p.TUPLE: m.op_tuple,
        p.EMPTY_TUPLE: m.op_none,
        p.SETITEMS: m.op_setitems,
        p.BINFLOAT: fixed(8),
        p.PROTO: m.op_proto,
        p.NEWOBJ: m.op_newobj,
        p.EXT1: ext(1, "<B"),
        p.EXT2: ext(2, "<H"),
        p.EXT4: ext(4, "<i"),
        p.TUPLE1: tuple_n(1),
        p.TUPLE2: tuple_n(2),
        p.TUPLE3: tuple_n(3),
        p.NEWTRUE: m.op_none,
        p.NEWFALSE: m.op_none,
        p.LONG1: m.op_long1,
        p.LONG4: m.op_long4,
        p.BINBYTES: m.op_binbytes,
        p.SHORT_BINBYTES: m.op_short_binbytes,
        p.SHORT_BINUNICODE: m.op_short_binunicode,
        p.BINUNICODE8: m.op_binunicode8,
        p.BINBYTES8: m.op_binbytes8,
        p.EMPTY_SET: m.op_none,
        p.ADDITEMS: m.op_additems,
        p.FROZENSET: m.op_list_from_mark,
        p.NEWOBJ_EX: m.op_newobj_ex,
        p.STACK_GLOBAL: m.op_stack_global,
        p.MEMOIZE: m.op_memoize,
        p.FRAME: m.op_frame,
        p.BYTEARRAY8: m.op_binbytes8,
        p.NEXT_BUFFER: m.op_next_buffer,
        p.READONLY_BUFFER: m.op_readonly_buffer,
    }
    for code, handler in entries.items():
        table[code[0]] = handler
    return table


_DISPATCH: Final = _build_dispatch()
