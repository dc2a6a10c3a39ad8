"""The root group's attributes of an HDF5 file, read without the HDF5 library (session 28).

A legacy Keras model (``.h5``/``.hdf5``) is rebuilt from the root group's
``model_config`` attribute (and compiled from ``training_config``): the loader
asks h5py for that attribute, so the scanner must vet the same value, not a
piece of text that looks like it. h5py is not a dependency, and the HDF5 C
library parsing hostile input in CI is a risk not taken: this module reads the
few structures on that path in pure Python.

Scope: the superblock (versions 0-3, found at 0, 512, 1024, ... like the
library's signature search, so a user block is no hiding place), the root
group's object header (versions 1 and 2, with continuation blocks), its
attribute messages (versions 1-3), compact or in dense storage (a fractal heap
whose root is a direct block or an indirect block of direct blocks, indexed by
a v2 B-tree of at most two levels), their dataspace (scalar, simple, null)
and, for string values, a fixed-length string datatype or a variable-length
string whose bytes are in a global heap collection (``GCOL``). Everything else
raises :class:`HDF5Error` (the caller reports the file as not vetted): filtered
heaps, huge or tiny heap objects, deeper trees, shared (committed) datatypes
or attribute messages, a driver info block, offset sizes other than 2/4/8, a
global heap object index seen twice, a truncated or looping structure.
Checksums are not verified: a file whose checksum fails does not load, so
reading it anyway can only report more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SIGNATURE: Final = b"\x89HDF\r\n\x1a\n"
_MSG_CONTINUATION: Final = 0x0010
_MSG_ATTRIBUTE: Final = 0x000C
_MSG_ATTRIBUTE_INFO: Final = 0x0015
_CLASS_STRING: Final = 3
_CLASS_VLEN: Final = 9
# An attribute name record: heap ID (8), message flags, creation order, name hash.
_NAME_RECORD: Final = 17
# A hostile file can chain continuation blocks or heap objects without end.
_MAX_CHUNKS: Final = 4096
_MAX_MESSAGES: Final = 65536


class HDF5Error(ValueError):
    """A structure the reader does not understand: the file is not vetted."""


@dataclass(frozen=True)
class Attribute:
    """One attribute of the root group (compact or dense), its value still encoded."""

    name: bytes
    datatype: bytes
    dims: tuple[int, ...] | None  # None: a scalar; () with null=True: no value
    null: bool
    data: bytes
    offset: int  # where ``data`` starts in the file


@dataclass(frozen=True)
class StringValue:
    """A string attribute's bytes, as h5py returns them (trailing NULs kept)."""

    text: bytes
    start: int  # where the bytes are in the file (a heap object for vlen)
    end: int


def superblock_offset(data: bytes) -> int | None:
    """Where the library finds the superblock: offset 0, then 512, 1024, 2048, ..."""
    pos = 0
    while pos + len(SIGNATURE) <= len(data):
        if data.startswith(SIGNATURE, pos):
            return pos
        pos = 512 if pos == 0 else pos * 2
    return None


class _Reader:
    def __init__(self, data: bytes, base: int) -> None:
        self.data = data
        self.base = base  # the library makes every address relative to the superblock
        self.osize = 8
        self.lsize = 8

    def uint(self, pos: int, size: int) -> int:
        if pos < 0 or pos + size > len(self.data):
            raise HDF5Error(f"truncated at byte {pos}")
        return int.from_bytes(self.data[pos : pos + size], "little")

    def addr(self, pos: int) -> int | None:
        value = self.uint(pos, self.osize)
        return None if value == (1 << (8 * self.osize)) - 1 else value

    def at(self, address: int | None, what: str) -> int:
        if address is None or self.base + address >= len(self.data):
            raise HDF5Error(f"{what} lies outside the file")
        return self.base + address

    def sizes(self, osize: int, lsize: int) -> None:
        if osize not in (2, 4, 8) or lsize not in (2, 4, 8):
            raise HDF5Error(f"offset/length sizes {osize}/{lsize} are not supported")
        self.osize, self.lsize = osize, lsize


def _root_header(r: _Reader, sb: int) -> int:
    """The root group's object header address, from the superblock."""
    version = r.uint(sb + 8, 1)
    if version in (0, 1):
        r.sizes(r.uint(sb + 13, 1), r.uint(sb + 14, 1))
        pos = sb + 24 + (4 if version == 1 else 0)
        # base, free-space info, end of file, driver info; then the root entry
        driver = r.addr(pos + 3 * r.osize)
        if driver is not None:
            raise HDF5Error("a driver info block (family/multi files) is not supported")
        return r.at(r.addr(pos + 5 * r.osize), "the root object header")
    if version in (2, 3):
        r.sizes(r.uint(sb + 9, 1), r.uint(sb + 10, 1))
        # base, superblock extension, end of file, root object header
        return r.at(r.addr(sb + 12 + 3 * r.osize), "the root object header")
    raise HDF5Error(f"superblock version {version} is not supported")


@dataclass(frozen=True)
class _Message:
    type: int
    flags: int
    start: int
    size: int


def _messages(r: _Reader, header: int) -> list[_Message]:
    """Every message of an object header, continuation blocks included."""
    v2 = r.data.startswith(b"OHDR", header)
    # A v2 header tracking attribute creation order gives each message a
    # 2-byte creation index; v1 headers have 8-byte message headers.
    head = (6 if r.uint(header + 5, 1) & 0x04 else 4) if v2 else 8
    chunks = [_first_chunk_v2(r, header) if v2 else _first_chunk_v1(r, header)]
    seen: set[int] = set()
    out: list[_Message] = []
    while chunks:
        start, end = chunks.pop(0)
        if start in seen or len(seen) >= _MAX_CHUNKS:
            raise HDF5Error("object header continuation blocks loop or never end")
        seen.add(start)
        for msg in _chunk_messages(r, start, end, head):
            out.append(msg)
            if len(out) > _MAX_MESSAGES:
                raise HDF5Error("too many object header messages")
            if msg.type == _MSG_CONTINUATION:
                chunks.append(_continuation(r, msg, v2))
    return out


def _first_chunk_v1(r: _Reader, header: int) -> tuple[int, int]:
    if r.uint(header, 1) != 1:
        raise HDF5Error(f"object header version {r.uint(header, 1)} is not supported")
    return header + 16, header + 16 + r.uint(header + 8, 4)


def _first_chunk_v2(r: _Reader, header: int) -> tuple[int, int]:
    if r.uint(header + 4, 1) != 2:
        raise HDF5Error("object header version is not 2 after OHDR")
    flags = r.uint(header + 5, 1)
    pos = header + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    width = 1 << (flags & 0x03)
    return pos + width, pos + width + r.uint(pos, width)


def _continuation(r: _Reader, msg: _Message, v2: bool) -> tuple[int, int]:
    start = r.at(r.addr(msg.start), "a continuation block")
    length = r.uint(msg.start + r.osize, r.lsize)
    if not v2:
        return start, start + length
    if not r.data.startswith(b"OCHK", start):
        raise HDF5Error("a continuation block without its OCHK signature")
    return start + 4, start + length - 4  # the signature, then the checksum


def _chunk_messages(r: _Reader, pos: int, end: int, head: int) -> list[_Message]:
    if end > len(r.data):
        raise HDF5Error("an object header chunk runs past the end of the file")
    out: list[_Message] = []
    # A gap too small for a message header ends a v2 chunk.
    while pos + head <= end:
        if head == 8:
            mtype, size, flags = r.uint(pos, 2), r.uint(pos + 2, 2), r.uint(pos + 4, 1)
        else:
            mtype, size, flags = r.uint(pos, 1), r.uint(pos + 1, 2), r.uint(pos + 3, 1)
        if pos + head + size > end:
            raise HDF5Error("an object header message runs past its chunk")
        out.append(_Message(mtype, flags, pos + head, size))
        pos += head + size
    return out


class Root:
    """The root group's attributes, in the order the library iterates them.

    Raises :class:`HDF5Error` for anything outside the reader's scope."""

    def __init__(self, data: bytes) -> None:
        sb = superblock_offset(data)
        if sb is None:
            raise HDF5Error("no HDF5 signature")
        self._r = _Reader(data, sb)
        self.attributes: list[Attribute] = []
        for msg in _messages(self._r, _root_header(self._r, sb)):
            if msg.type == _MSG_ATTRIBUTE_INFO:
                self.attributes += _dense_attributes(self._r, msg)
            elif msg.type == _MSG_ATTRIBUTE:
                if msg.flags & 0x02:
                    raise HDF5Error("a shared attribute message is not read")
                self.attributes.append(_attribute(self._r, msg))

    def string_value(self, attr: Attribute) -> StringValue:
        """The bytes h5py returns for a scalar string attribute; anything else raises."""
        return _string_value(self._r, attr)


def _dense_attributes(r: _Reader, msg: _Message) -> list[Attribute]:
    """An attribute info message: with a fractal heap, the attributes are there.

    Every record of the name index (a v2 B-tree) names a heap object holding
    one attribute message; a leaf-only tree and a heap whose root is a direct
    block, or an indirect block of direct blocks, are read, anything deeper
    raises."""
    flags = r.uint(msg.start + 1, 1)
    pos = msg.start + 2 + (2 if flags & 0x01 else 0)
    heap_addr, index_addr = r.addr(pos), r.addr(pos + r.osize)
    if heap_addr is None:
        return []  # compact storage: the attribute messages are in the header
    heap = _Heap(r, r.at(heap_addr, "a fractal heap"))
    out: list[Attribute] = []
    for record in _name_index(r, r.at(index_addr, "an attribute name index")):
        if record[8] & 0x02:
            raise HDF5Error("a shared attribute message is not read")
        start, size = heap.locate(record[:8])
        out.append(_attribute(r, _Message(_MSG_ATTRIBUTE, record[8], start, size)))
    return out


def _name_index(r: _Reader, pos: int) -> list[bytes]:
    """The records of a v2 B-tree of attribute names (type 8): a leaf, or one
    internal node over leaves (about 800 attributes); deeper trees raise."""
    if not r.data.startswith(b"BTHD", pos) or r.uint(pos + 4, 1) != 0:
        raise HDF5Error("not a v2 B-tree header")
    if r.uint(pos + 5, 1) != 8 or r.uint(pos + 10, 2) != _NAME_RECORD:
        raise HDF5Error("not an attribute name index")
    node_size, depth, root = r.uint(pos + 6, 4), r.uint(pos + 12, 2), r.addr(pos + 16)
    count = r.uint(pos + 16 + r.osize, 2)
    total = r.uint(pos + 18 + r.osize, r.lsize)
    if root is None:
        return []
    if depth > 1:
        raise HDF5Error("an attribute name index more than two levels deep is not read")
    leaves = [(root, count)]
    records: list[bytes] = []
    if depth == 1:
        node = r.at(root, "a B-tree node")
        records = _node_records(r, node, b"BTIN", count)
        # Each child pointer: its address, then its record count in as few
        # bytes as a leaf's largest count needs (the library's encoding).
        width = (((node_size - 10) // _NAME_RECORD).bit_length() - 1) // 8 + 1
        ptr = node + 6 + count * _NAME_RECORD
        leaves = []
        for i in range(count + 1):
            at = ptr + i * (r.osize + width)
            leaves.append((r.at(r.addr(at), "a B-tree leaf"), r.uint(at + r.osize, width)))
    for leaf, n in leaves:
        records += _node_records(r, r.at(leaf, "a B-tree leaf"), b"BTLF", n)
    if len(records) != total:
        raise HDF5Error("an attribute name index whose nodes do not hold its records")
    return records


def _node_records(r: _Reader, pos: int, signature: bytes, count: int) -> list[bytes]:
    if not r.data.startswith(signature, pos) or r.uint(pos + 5, 1) != 8:
        raise HDF5Error("not a node of an attribute name index")
    first = pos + 6
    if first + count * _NAME_RECORD > len(r.data):
        raise HDF5Error("a B-tree node runs past the end of the file")
    return [r.data[first + i * _NAME_RECORD : first + (i + 1) * _NAME_RECORD] for i in range(count)]


class _Heap:
    """A fractal heap's managed objects, for unfiltered heaps."""

    def __init__(self, r: _Reader, pos: int) -> None:
        if not r.data.startswith(b"FRHP", pos) or r.uint(pos + 4, 1) != 0:
            raise HDF5Error("not a fractal heap header (version 0)")
        if r.uint(pos + 7, 2):
            raise HDF5Error("a filtered fractal heap is not read")
        self.r = r
        self.checksummed = bool(r.uint(pos + 9, 1) & 0x02)
        max_managed = r.uint(pos + 10, 4)
        # next huge ID, huge B-tree, free space, its manager, managed space,
        # allocated space, iterator, managed/huge/tiny counts and sizes
        q = pos + 14 + 2 * r.osize + 10 * r.lsize
        self.width = r.uint(q, 2)
        self.start_size = r.uint(q + 2, r.lsize)
        max_direct = r.uint(q + 2 + r.lsize, r.lsize)
        q += 2 + 2 * r.lsize
        self.offset_bytes = (r.uint(q, 2) + 7) // 8
        self.root = r.addr(q + 4)
        self.rows = r.uint(q + 4 + r.osize, 2)
        if not self.width or not self.start_size or max_direct < self.start_size:
            raise HDF5Error("a fractal heap with an impossible block table")
        self.max_direct = max_direct
        self.length_bytes = min(
            ((max_direct.bit_length() - 1) + 7) // 8, (max_managed.bit_length() - 1) // 8 + 1
        )

    def locate(self, heap_id: bytes) -> tuple[int, int]:
        """Where a managed object is in the file, and its size."""
        if heap_id[0] & 0xF0:
            raise HDF5Error("a huge or tiny heap object (or an unknown ID version) is not read")
        offset = int.from_bytes(heap_id[1 : 1 + self.offset_bytes], "little")
        end = 1 + self.offset_bytes + self.length_bytes
        length = int.from_bytes(heap_id[1 + self.offset_bytes : end], "little")
        if self.rows == 0:
            block, block_offset, size = self.r.at(self.root, "a heap block"), 0, self.start_size
        else:
            block, block_offset, size = self._in_indirect(offset)
        return self._object(block, block_offset, size, offset, length)

    def _row_size(self, row: int) -> int:
        return self.start_size if row == 0 else self.start_size << (row - 1)

    def _in_indirect(self, offset: int) -> tuple[int, int, int]:
        r = self.r
        pos = r.at(self.root, "a root indirect block")
        if not r.data.startswith(b"FHIB", pos):
            raise HDF5Error("not a fractal heap indirect block")
        entry, base = pos + 5 + r.osize + self.offset_bytes, 0
        for row in range(self.rows):
            size = self._row_size(row)
            if size > self.max_direct:
                raise HDF5Error("a fractal heap with nested indirect blocks is not read")
            if offset < base + self.width * size:
                col = (offset - base) // size
                child = r.at(r.addr(entry + col * r.osize), "a heap block")
                return child, base + col * size, size
            entry, base = entry + self.width * r.osize, base + self.width * size
        raise HDF5Error("a heap object outside the heap")

    def _object(
        self, block: int, block_offset: int, size: int, offset: int, length: int
    ) -> tuple[int, int]:
        r = self.r
        if not r.data.startswith(b"FHDB", block):
            raise HDF5Error("not a fractal heap direct block")
        if r.uint(block + 5 + r.osize, self.offset_bytes) != block_offset:
            raise HDF5Error("a heap direct block at another offset than its table says")
        header = 5 + r.osize + self.offset_bytes + (4 if self.checksummed else 0)
        inner = offset - block_offset
        if inner < header or inner + length > size or block + size > len(r.data):
            raise HDF5Error("a heap object outside its block")
        return block + inner, length


def _pad8(n: int) -> int:
    return (n + 7) & ~7


def _attribute(r: _Reader, msg: _Message) -> Attribute:
    pos, version = msg.start, r.uint(msg.start, 1)
    if version not in (1, 2, 3):
        raise HDF5Error(f"attribute message version {version} is not supported")
    flags = r.uint(pos + 1, 1) if version > 1 else 0
    if flags & 0x03:
        raise HDF5Error("an attribute with a shared datatype or dataspace is not read")
    sizes = [r.uint(pos + 2, 2), r.uint(pos + 4, 2), r.uint(pos + 6, 2)]
    pad = _pad8 if version == 1 else (lambda n: n)
    pos += 9 if version == 3 else 8
    parts: list[bytes] = []
    for size in sizes:
        parts.append(r.data[pos : pos + size])
        pos += pad(size)
    end = msg.start + msg.size
    if pos > end:
        raise HDF5Error("an attribute message is shorter than its parts")
    name, datatype, dataspace = parts
    dims, null = _dataspace(r, dataspace)
    return Attribute(name.split(b"\0", 1)[0], datatype, dims, null, r.data[pos:end], pos)


def _dataspace(r: _Reader, space: bytes) -> tuple[tuple[int, ...] | None, bool]:
    if len(space) < 4:
        raise HDF5Error("a truncated dataspace")
    version, rank = space[0], space[1]
    if version == 1:
        kind, pos = (0 if rank == 0 else 1), 8
    elif version == 2:
        kind, pos = space[3], 4
    else:
        raise HDF5Error(f"dataspace version {version} is not supported")
    if kind == 0:
        return None, False
    if kind == 2:
        return (), True
    if kind != 1 or pos + rank * r.lsize > len(space):
        raise HDF5Error("a dataspace that does not parse")
    dims = [
        int.from_bytes(space[pos + i * r.lsize : pos + (i + 1) * r.lsize], "little")
        for i in range(rank)
    ]
    return tuple(dims), False


def _string_value(r: _Reader, attr: Attribute) -> StringValue:
    if attr.dims is not None or attr.null or len(attr.datatype) < 8:
        raise HDF5Error("not a scalar string")
    cls = attr.datatype[0] & 0x0F
    bits = int.from_bytes(attr.datatype[1:4], "little")
    size = int.from_bytes(attr.datatype[4:8], "little")
    if cls == _CLASS_STRING:
        if size > len(attr.data):
            raise HDF5Error("a string attribute shorter than its datatype")
        return StringValue(attr.data[:size], attr.offset, attr.offset + size)
    if cls == _CLASS_VLEN and bits & 0x0F == 1:
        return _vlen_string(r, attr)
    raise HDF5Error(f"datatype class {cls} is not a string")


def _vlen_string(r: _Reader, attr: Attribute) -> StringValue:
    """A variable-length string: a length, then a global heap collection and an index."""
    if len(attr.data) < 8 + r.osize:
        raise HDF5Error("a truncated variable-length string")
    length = int.from_bytes(attr.data[:4], "little")
    heap = int.from_bytes(attr.data[4 : 4 + r.osize], "little")
    index = int.from_bytes(attr.data[4 + r.osize : 8 + r.osize], "little")
    if heap == 0 and length == 0:
        return StringValue(b"", attr.offset, attr.offset)
    start, size = _heap_object(r, r.at(heap, "a global heap collection"), index)
    if size != length:
        raise HDF5Error("a variable-length string whose heap object has another length")
    return StringValue(r.data[start : start + size], start, start + size)


def _heap_object(r: _Reader, pos: int, index: int) -> tuple[int, int]:
    """Where object ``index`` of the GCOL at ``pos`` is, and its size.

    The library keeps the last object of an index it reads, a reader that
    stops at the first would see a decoy: an index twice is refused."""
    if not r.data.startswith(b"GCOL", pos) or r.uint(pos + 4, 1) != 1:
        raise HDF5Error("not a global heap collection (GCOL version 1)")
    end = pos + r.uint(pos + 8, r.lsize)
    if end > len(r.data):
        raise HDF5Error("a global heap collection runs past the end of the file")
    found: dict[int, tuple[int, int]] = {}
    obj = pos + 8 + r.lsize
    while obj + 8 + r.lsize <= end:
        idx, size = r.uint(obj, 2), r.uint(obj + 8, r.lsize)
        if idx == 0:
            break  # the free space ends the objects
        if idx in found:
            raise HDF5Error(f"a global heap collection with object {idx} twice")
        start = obj + 8 + r.lsize
        if start + size > end:
            raise HDF5Error("a global heap object runs past its collection")
        found[idx] = (start, size)
        obj = start + _pad8(size)
    if index not in found:
        raise HDF5Error(f"global heap object {index} is missing")
    return found[index]
