"""The project's own .tflite -> ONNX converter (enough of TFLite for the BlazePose models).

The flatbuffer is read with the PyPI package `tflite`; the ONNX graph is built with `onnx.helper`.
Layout rule: at the boundary the model keeps its own input/output names and NHWC layout, with a
symbolic batch axis "N"; inside, every 4-D activation is NCHW (what ONNX Conv/Pool/Resize expect),
so a Transpose sits only after each 4-D input and before each 4-D output. Constant-only ops
(DEQUANTIZE of fp16 weights, DENSIFY of sparse weights) are folded into float32 initializers.
The per-op translation lives in convert_ops.py; constant decoding in convert_consts.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

from server.errors import InvalidInputError
from server.pose import convert_consts as consts

# Bump when the converter's output changes, so cached models are rebuilt.
CONVERTER_VERSION = "2"
# Opset 18: Resize takes `axes`, so only H and W sizes are needed with a symbolic batch.
OPSET = 18
# IR 8 is what opset 18 needs; older onnxruntime builds (>= 1.14) still load it.
IR_VERSION = 8
BATCH = "N"
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)

_BUILTIN_NAMES: dict[int, str] = {
    value: name for name, value in vars(tflite.BuiltinOperator).items() if not name.startswith("_")
}


def builtin_name(code: int) -> str:
    return _BUILTIN_NAMES.get(code, f"builtin {code}")


@dataclass
class GraphBuilder:
    """Conversion state for one tflite subgraph: the ONNX nodes and initializers built so far,
    the folded constants (tflite layout) and the ONNX value name of each tflite activation.

    Invariant: the ONNX value of a 4-D tflite activation is NCHW; any other rank is as in tflite.
    """

    model: Any
    subgraph: Any
    file_bytes: bytes
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    constants: dict[int, np.ndarray[Any, Any]] = field(default_factory=dict)
    values: dict[int, str] = field(default_factory=dict)
    _used: set[str] = field(default_factory=set)
    _shared: dict[str, str] = field(default_factory=dict)

    def tensor(self, index: int) -> Any:
        return self.subgraph.Tensors(index)

    def shape(self, index: int) -> tuple[int, ...]:
        return consts.tensor_shape(self.tensor(index))

    def tensor_name(self, index: int) -> str:
        return str(self.tensor(index).Name().decode())

    def fresh(self, hint: str) -> str:
        """A value name not used yet, readable (derived from the tflite tensor name)."""
        base = re.sub(r"[^A-Za-z0-9_./:-]", "_", hint) or "v"
        name, k = base, 1
        while name in self._used:
            k += 1
            name = f"{base}__{k}"
        self._used.add(name)
        return name

    def reserve(self, name: str) -> None:
        if name in self._used:
            raise InvalidInputError(
                f"tflite model uses the tensor name {name!r} twice at its boundary"
            )
        self._used.add(name)

    def constant(self, index: int) -> np.ndarray[Any, Any] | None:
        """The folded value of tflite tensor `index` (tflite layout), or None if it is computed."""
        if index in self.constants:
            return self.constants[index]
        value = consts.constant(self.model, self.tensor(index), self.file_bytes)
        if value is not None:
            self.constants[index] = value
        return value

    def require_constant(self, index: int, role: str, op: str) -> np.ndarray[Any, Any]:
        value = self.constant(index)
        if value is None:
            raise InvalidInputError(
                f"{op}: {role} {self.tensor_name(index)!r} is computed at run time; only constant "
                "weights are supported"
            )
        return value

    def initializer(self, array: np.ndarray[Any, Any], hint: str) -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def shared_initializer(self, array: np.ndarray[Any, Any], key: str) -> str:
        """An initializer made once per graph and reused under `key` (e.g. the ReLU6 bounds)."""
        if key not in self._shared:
            self._shared[key] = self.initializer(array, key)
        return self._shared[key]

    def activation(self, index: int) -> str:
        """ONNX value name of an op input; a constant becomes an initializer (NCHW if 4-D)."""
        if index in self.values:
            return self.values[index]
        value = self.constant(index)
        if value is None:
            raise InvalidInputError(
                f"tensor {self.tensor_name(index)!r} is used before any op produces it"
            )
        if value.dtype == np.float16:
            value = value.astype(np.float32)
        if value.ndim == 4:
            value = value.transpose(NHWC_TO_NCHW)
        name = self.initializer(value, self.tensor_name(index))
        self.values[index] = name
        return name

    def output(self, index: int) -> str:
        """Name for the ONNX value of tflite tensor `index`, registered as its value."""
        name = self.fresh(self.tensor_name(index))
        self.values[index] = name
        return name

    def node(self, op_type: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        self.nodes.append(
            helper.make_node(
                op_type, inputs, outputs, name=self.fresh(f"{op_type}_{outputs[0]}"), **attrs
            )
        )


def _boundary_info(builder: GraphBuilder, index: int) -> onnx.ValueInfoProto:
    tensor = builder.tensor(index)
    if consts.tensor_dtype(tensor) != np.float32:
        raise InvalidInputError(
            f"model boundary tensor {builder.tensor_name(index)!r} is not float32"
        )
    dims: list[int | str] = [BATCH, *builder.shape(index)[1:]]
    return helper.make_tensor_value_info(builder.tensor_name(index), TensorProto.FLOAT, dims)


def _read_model(tflite_bytes: bytes) -> Any:
    # "TFL3" is the tflite file identifier at byte 4; catch a wrong file before the parser does.
    if len(tflite_bytes) < 8 or tflite_bytes[4:8] != b"TFL3":
        raise InvalidInputError(
            f"not a .tflite flatbuffer (identifier {tflite_bytes[4:8]!r}, {len(tflite_bytes)} bytes)"
        )
    model = tflite.Model.GetRootAsModel(tflite_bytes, 0)
    if model.SubgraphsLength() != 1:
        raise InvalidInputError(
            f"tflite model has {model.SubgraphsLength()} subgraphs; the converter handles one"
        )
    return model


def convert_tflite(tflite_bytes: bytes) -> onnx.ModelProto:
    """Convert a single-subgraph float .tflite model to an ONNX ModelProto (opset 18).

    Inputs/outputs keep their tflite names and NHWC shapes with the batch axis named "N".
    InvalidInputError names the first unsupported op or tensor.
    """
    from server.pose import convert_ops

    model = _read_model(tflite_bytes)
    subgraph = model.Subgraphs(0)
    builder = GraphBuilder(model=model, subgraph=subgraph, file_bytes=tflite_bytes)
    inputs = [int(i) for i in subgraph.InputsAsNumpy()]
    outputs = [int(i) for i in subgraph.OutputsAsNumpy()]
    for index in inputs + outputs:
        builder.reserve(builder.tensor_name(index))

    for index in inputs:
        name = builder.tensor_name(index)
        if len(builder.shape(index)) == 4:
            inner = builder.fresh(f"{name}__nchw")
            builder.node("Transpose", [name], [inner], perm=list(NHWC_TO_NCHW))
            builder.values[index] = inner
        else:
            builder.values[index] = name

    for i in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(i)
        code_table = model.OperatorCodes(op.OpcodeIndex())
        # Old files keep the code in deprecated_builtin_code (int8); new ones in builtin_code.
        code = max(int(code_table.BuiltinCode()), int(code_table.DeprecatedBuiltinCode()))
        emit = convert_ops.EMITTERS.get(code)
        if emit is None:
            raise InvalidInputError(
                f"tflite op {builtin_name(code)} (operator #{i}) is not supported by the converter"
            )
        emit(builder, op)

    for index in outputs:
        name = builder.tensor_name(index)
        inner = builder.activation(index)
        if len(builder.shape(index)) == 4:
            builder.node("Transpose", [inner], [name], perm=list(NCHW_TO_NHWC))
        else:
            builder.node("Identity", [inner], [name])

    graph = helper.make_graph(
        builder.nodes,
        "liftstream_converted",
        [_boundary_info(builder, i) for i in inputs],
        [_boundary_info(builder, i) for i in outputs],
        initializer=builder.initializers,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="liftstream-convert",
        producer_version=CONVERTER_VERSION,
        ir_version=IR_VERSION,
    )
    helper.set_model_props(
        onnx_model, {"source_tflite_sha256": hashlib.sha256(tflite_bytes).hexdigest()}
    )
    onnx.checker.check_model(onnx_model)
    return onnx_model


def atomic_write(dst: Path, data: bytes) -> None:
    """Write `data` to `dst` through a temp file in the same folder and a rename, so a reader
    (or an interrupted run) never sees a half-written file under the final name."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes 0600 files; the cache is shared with the server's user, so 0644.
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def convert_file(src: Path, dst: Path) -> None:
    """Convert the .tflite file `src` and write the ONNX model to `dst` atomically."""
    try:
        data = Path(src).read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read tflite model {src}: {exc}") from None
    atomic_write(Path(dst), convert_tflite(data).SerializeToString())
