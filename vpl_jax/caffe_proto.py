"""The subset of Caffe's ``caffe.proto`` needed to read weights from a ``.caffemodel``.

A ``.caffemodel`` is a serialised ``caffe.NetParameter`` protobuf message. Rather than parsing the
wire format by hand, this module declares the few messages and fields we read, with Caffe's own
field numbers (BVLC/caffe ``src/caffe/proto/caffe.proto``), as a ``FileDescriptorProto`` and lets
the ``protobuf`` library build the message classes at import time. Fields not declared here (layer
parameters, solver settings, ...) are kept by protobuf as unknown fields and ignored.

Declared (``message.field = number``):

* ``BlobShape.dim = 1`` (repeated packed int64)
* ``BlobProto``: ``num = 1``, ``channels = 2``, ``height = 3``, ``width = 4`` (legacy 4-D shape),
  ``data = 5`` (packed float), ``diff = 6`` (packed float), ``shape = 7`` (BlobShape),
  ``double_data = 8`` (packed double)
* ``NetParameter``: ``name = 1``, ``layers = 2`` (legacy V1LayerParameter), ``layer = 100``
  (LayerParameter)
* ``LayerParameter``: ``name = 1``, ``type = 2`` (string), ``blobs = 7``
* ``V1LayerParameter``: ``layer = 1`` (V0LayerParameter), ``name = 4``, ``type = 5`` (enum
  ``LayerType``, of which we name ``CONVOLUTION = 4`` and ``INNER_PRODUCT = 14``), ``blobs = 6``
* ``V0LayerParameter``: ``name = 1``, ``type = 2`` (string, e.g. ``"conv"``), ``blobs = 50``

The messages live in a private descriptor pool so they never clash with another ``caffe``
package registered in the process.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = [
    "BlobProto",
    "BlobShape",
    "LayerParameter",
    "NetParameter",
    "V1LayerParameter",
    "V1_LAYER_TYPES",
    "describe_truncation",
]

_F = descriptor_pb2.FieldDescriptorProto

#: Values of ``V1LayerParameter.LayerType`` that we name (others are read as unknown fields).
V1_LAYER_TYPES = {0: "NONE", 4: "CONVOLUTION", 14: "INNER_PRODUCT"}


def _add_field(message, name, number, field_type, *, repeated=False, packed=False, type_name=""):
    field = message.field.add(
        name=name,
        number=number,
        type=field_type,
        label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL,
    )
    if type_name:
        field.type_name = type_name
    if packed:
        field.options.packed = True
    return field


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="vpl_jax/caffe_weights_subset.proto", package="caffe", syntax="proto2"
    )

    shape = fdp.message_type.add(name="BlobShape")
    _add_field(shape, "dim", 1, _F.TYPE_INT64, repeated=True, packed=True)

    blob = fdp.message_type.add(name="BlobProto")
    _add_field(blob, "num", 1, _F.TYPE_INT32)
    _add_field(blob, "channels", 2, _F.TYPE_INT32)
    _add_field(blob, "height", 3, _F.TYPE_INT32)
    _add_field(blob, "width", 4, _F.TYPE_INT32)
    _add_field(blob, "data", 5, _F.TYPE_FLOAT, repeated=True, packed=True)
    _add_field(blob, "diff", 6, _F.TYPE_FLOAT, repeated=True, packed=True)
    _add_field(blob, "shape", 7, _F.TYPE_MESSAGE, type_name=".caffe.BlobShape")
    _add_field(blob, "double_data", 8, _F.TYPE_DOUBLE, repeated=True, packed=True)

    layer = fdp.message_type.add(name="LayerParameter")
    _add_field(layer, "name", 1, _F.TYPE_STRING)
    _add_field(layer, "type", 2, _F.TYPE_STRING)
    _add_field(layer, "blobs", 7, _F.TYPE_MESSAGE, repeated=True, type_name=".caffe.BlobProto")

    v0 = fdp.message_type.add(name="V0LayerParameter")
    _add_field(v0, "name", 1, _F.TYPE_STRING)
    _add_field(v0, "type", 2, _F.TYPE_STRING)
    _add_field(v0, "blobs", 50, _F.TYPE_MESSAGE, repeated=True, type_name=".caffe.BlobProto")

    v1 = fdp.message_type.add(name="V1LayerParameter")
    layer_type = v1.enum_type.add(name="LayerType")
    for number, name in V1_LAYER_TYPES.items():
        layer_type.value.add(name=name, number=number)
    _add_field(v1, "layer", 1, _F.TYPE_MESSAGE, type_name=".caffe.V0LayerParameter")
    _add_field(v1, "name", 4, _F.TYPE_STRING)
    _add_field(v1, "type", 5, _F.TYPE_ENUM, type_name=".caffe.V1LayerParameter.LayerType")
    _add_field(v1, "blobs", 6, _F.TYPE_MESSAGE, repeated=True, type_name=".caffe.BlobProto")

    net = fdp.message_type.add(name="NetParameter")
    _add_field(net, "name", 1, _F.TYPE_STRING)
    _add_field(
        net, "layers", 2, _F.TYPE_MESSAGE, repeated=True, type_name=".caffe.V1LayerParameter"
    )
    _add_field(net, "layer", 100, _F.TYPE_MESSAGE, repeated=True, type_name=".caffe.LayerParameter")
    return fdp


def _build_classes():
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"caffe.{name}"))
        for name in ("BlobShape", "BlobProto", "LayerParameter", "V1LayerParameter", "NetParameter")
    }


_CLASSES = _build_classes()
BlobShape = _CLASSES["BlobShape"]
BlobProto = _CLASSES["BlobProto"]
LayerParameter = _CLASSES["LayerParameter"]
V1LayerParameter = _CLASSES["V1LayerParameter"]
NetParameter = _CLASSES["NetParameter"]


# --- Diagnosis of files that protobuf rejected ---------------------------------------------------
#
# protobuf refuses a truncated message as a whole ("Error parsing message"), which cannot say
# *where* the file ends. After protobuf has rejected a file, `describe_truncation` walks only the
# tags and lengths of the outer NetParameter fields (no values are decoded) to name the layer in
# which the data stops, how many bytes that layer declares and how many are present. It never
# produces weights.

_LAYER_FIELDS = {100: "layer", 2: "layers"}
_NAME_FIELD = {100: 1, 2: 4}


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise IndexError("varint runs past the end of the data")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(buf: bytes):
    """Yield ``(field_number, wire_type, start, end, declared_end)`` for the fields of ``buf``.

    ``end`` is where the field's bytes stop within ``buf``; ``declared_end`` is where they should
    stop. They differ only for a length-delimited field cut by the end of ``buf``, which is last.
    """
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, end = _read_varint(buf, pos)
            declared = end
        elif wire == 1:
            declared = pos + 8
        elif wire == 5:
            declared = pos + 4
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            declared = pos + length
        else:
            raise ValueError(f"unsupported wire type {wire} for field {field}")
        end = min(declared, len(buf))
        yield field, wire, pos, end, declared
        if end < declared:
            return
        pos = end


def _partial_name(buf: bytes, name_field: int) -> str | None:
    try:
        for field, wire, start, end, declared in _fields(buf):
            if field == name_field and wire == 2 and end == declared:
                return buf[start:end].decode("utf-8", "replace")
    except (IndexError, ValueError):
        return None
    return None


def describe_truncation(data: bytes) -> str | None:
    """Say where a NetParameter serialisation stops, or None if its outer framing is intact."""
    complete = []
    try:
        for field, wire, start, end, declared in _fields(data):
            if field in _LAYER_FIELDS and wire == 2:
                name = _partial_name(data[start:end], _NAME_FIELD[field])
                if end < declared:
                    return (
                        f"the file ends inside layer {name!r} (field "
                        f"`{_LAYER_FIELDS[field]}`): the layer declares {declared - start:,} "
                        f"bytes, only {end - start:,} are present; complete layers before it: "
                        f"{complete}"
                    )
                complete.append(name)
            elif end < declared:
                return (
                    f"the file ends inside NetParameter field {field}: {declared - start:,} "
                    f"bytes declared, {end - start:,} present; complete layers: {complete}"
                )
    except IndexError:
        return f"the file ends in the middle of a field header; complete layers: {complete}"
    except ValueError as err:
        return f"the outer NetParameter framing is corrupt ({err}); complete layers: {complete}"
    return None
