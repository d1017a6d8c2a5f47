"""Constant tensors of a .tflite flatbuffer as numpy arrays: raw buffers, fp16 and affine
dequantisation, and TFLite's sparse (DENSIFY) format expanded to dense.

BlazePose stores its weights as float16 behind DEQUANTIZE ops, and the detector additionally keeps
38 of them sparse behind DENSIFY. Both are pure functions of constant data, so the converter folds
them here into dense float32 arrays instead of emitting graph ops.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tflite

from server.errors import InvalidInputError

# tflite.TensorType -> numpy dtype, for the types a constant can hold in these models and kin.
_DTYPES: dict[int, np.dtype[Any]] = {
    tflite.TensorType.FLOAT32: np.dtype("<f4"),
    tflite.TensorType.FLOAT16: np.dtype("<f2"),
    tflite.TensorType.FLOAT64: np.dtype("<f8"),
    tflite.TensorType.INT32: np.dtype("<i4"),
    tflite.TensorType.INT64: np.dtype("<i8"),
    tflite.TensorType.INT16: np.dtype("<i2"),
    tflite.TensorType.INT8: np.dtype("i1"),
    tflite.TensorType.UINT8: np.dtype("u1"),
    tflite.TensorType.UINT16: np.dtype("<u2"),
    tflite.TensorType.BOOL: np.dtype("?"),
}

# DimensionMetadata formats (tflite.DimensionType): DENSE = 0, SPARSE_CSR = 1.
_DENSE, _SPARSE_CSR = 0, 1


def tensor_dtype(tensor: Any) -> np.dtype[Any]:
    """numpy dtype of a tflite Tensor; InvalidInputError for types the converter cannot hold."""
    code = int(tensor.Type())
    if code not in _DTYPES:
        raise InvalidInputError(
            f"tensor {tensor.Name().decode()!r} has tflite type {code}, which the converter does not support"
        )
    return _DTYPES[code]


def tensor_shape(tensor: Any) -> tuple[int, ...]:
    """Static shape of a tflite Tensor (the batch axis is 1 in these models)."""
    if tensor.ShapeLength() == 0:
        return ()
    return tuple(int(d) for d in tensor.ShapeAsNumpy())


def buffer_bytes(model: Any, tensor: Any, file_bytes: bytes) -> bytes | None:
    """The raw bytes behind a tensor, or None when it has none (an activation)."""
    buffer = model.Buffers(tensor.Buffer())
    if buffer is None:
        return None
    # Files over 2 GB keep data outside the flatbuffer at (offset, size); offset 1 means "none".
    offset, size = int(buffer.Offset()), int(buffer.Size())
    if offset > 1:
        return file_bytes[offset : offset + size]
    if buffer.DataLength() == 0:
        return None
    return bytes(buffer.DataAsNumpy().tobytes())


def constant(model: Any, tensor: Any, file_bytes: bytes) -> np.ndarray[Any, Any] | None:
    """A constant tensor as a numpy array in the tflite layout, or None for an activation.

    Sparse tensors come back as their 1-D vector of stored values; `densify` expands them.
    """
    raw = buffer_bytes(model, tensor, file_bytes)
    if raw is None:
        return None
    values = np.frombuffer(raw, dtype=tensor_dtype(tensor)).copy()
    if tensor.Sparsity() is not None:
        return values
    shape = tensor_shape(tensor)
    if values.size != int(np.prod(shape, dtype=np.int64)):
        raise InvalidInputError(
            f"tensor {tensor.Name().decode()!r}: buffer holds {values.size} values, shape {shape} needs "
            f"{int(np.prod(shape))}"
        )
    return values.reshape(shape)


def dequantize(values: np.ndarray[Any, Any], tensor: Any) -> np.ndarray[Any, Any]:
    """float32 from a DEQUANTIZE input: fp16 widens exactly; int types use scale and zero point
    ((q - zero_point) * scale, per tensor or per `quantized_dimension`)."""
    if values.dtype.kind == "f":
        return values.astype(np.float32)
    quant = tensor.Quantization()
    if quant is None or quant.ScaleLength() == 0:
        raise InvalidInputError(
            f"DEQUANTIZE input {tensor.Name().decode()!r} ({values.dtype}) has no quantisation scale"
        )
    scale: np.ndarray[Any, Any] = np.asarray(quant.ScaleAsNumpy(), dtype=np.float64)
    zero: np.ndarray[Any, Any] = (
        np.asarray(quant.ZeroPointAsNumpy(), dtype=np.float64)
        if quant.ZeroPointLength()
        else np.zeros_like(scale)
    )
    if scale.size > 1:
        # Per-channel: broadcast along the quantised axis.
        shape = [1] * values.ndim
        shape[int(quant.QuantizedDimension())] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    real: np.ndarray[Any, Any] = (values.astype(np.float64) - zero) * scale
    return real.astype(np.float32)


def _index_vector(kind: int, table: Any) -> np.ndarray[Any, Any]:
    vector_types = {
        tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
        tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
        tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector,
    }
    if kind not in vector_types or table is None:
        raise InvalidInputError(f"sparse tensor has an index vector of unknown kind {kind}")
    vector = vector_types[kind]()
    vector.Init(table.Bytes, table.Pos)
    return np.asarray(vector.ValuesAsNumpy(), dtype=np.int64)


def densify(values: np.ndarray[Any, Any], tensor: Any) -> np.ndarray[Any, Any]:
    """Expand a sparse tflite tensor (its stored values, 1-D) to its dense shape.

    TFLite walks the dimensions in `traversal_order`; each level is DENSE (every index 0..size-1)
    or SPARSE_CSR (for position p of the level above, indices[segments[p]:segments[p+1]]). Extra
    levels past the tensor rank are block dimensions, mapped onto original dims by `block_map`.
    The stored values follow that walk in order. Here the walk is done level by level on whole
    index arrays instead of recursively.
    """
    sparsity = tensor.Sparsity()
    dense_shape = tensor_shape(tensor)
    rank = len(dense_shape)
    order = (
        [int(d) for d in sparsity.TraversalOrderAsNumpy()]
        if sparsity.TraversalOrderLength()
        else list(range(rank))
    )
    block_map = [int(d) for d in sparsity.BlockMapAsNumpy()] if sparsity.BlockMapLength() else []
    levels = sparsity.DimMetadataLength()
    if len(order) != levels or levels != rank + len(block_map):
        raise InvalidInputError(
            f"sparse tensor {tensor.Name().decode()!r}: {levels} levels for rank {rank} and "
            f"{len(block_map)} block dims"
        )
    # `position` is each path's index into the next level's segments; `coords` its indices so far.
    position = np.zeros(1, dtype=np.int64)
    coords: list[np.ndarray[Any, Any]] = []
    for level in range(levels):
        meta = sparsity.DimMetadata(level)
        if meta.Format() == _DENSE:
            size = int(meta.DenseSize())
            coords = [np.repeat(c, size) for c in coords]
            coords.append(np.tile(np.arange(size, dtype=np.int64), position.size))
            position = (position[:, None] * size + np.arange(size)).reshape(-1)
        elif meta.Format() == _SPARSE_CSR:
            segments = _index_vector(meta.ArraySegmentsType(), meta.ArraySegments())
            indices = _index_vector(meta.ArrayIndicesType(), meta.ArrayIndices())
            counts = segments[position + 1] - segments[position]
            coords = [np.repeat(c, counts) for c in coords]
            # Positions of this level are the CSR slots segments[p] .. segments[p+1]-1, per path.
            starts = np.repeat(segments[position], counts)
            offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            position = starts + offsets
            coords.append(indices[position])
        else:
            raise InvalidInputError(
                f"sparse tensor level {level} has unknown format {meta.Format()}"
            )
    if position.size != values.size:
        raise InvalidInputError(
            f"sparse tensor {tensor.Name().decode()!r}: walk gives {position.size} slots for "
            f"{values.size} stored values"
        )
    full = [np.zeros_like(position) for _ in range(rank)]
    block_sizes = [int(sparsity.DimMetadata(rank + b).DenseSize()) for b in range(len(block_map))]
    for level, dim in enumerate(order):
        if dim < rank:
            full[dim] = coords[level]
    for level, dim in enumerate(order):
        if dim >= rank:
            block = dim - rank
            target = block_map[block]
            full[target] = full[target] * block_sizes[block] + coords[level]
    dense = np.zeros(dense_shape, dtype=values.dtype)
    dense[tuple(full)] = values
    return dense
