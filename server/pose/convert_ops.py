"""One emitter per supported tflite builtin op: read its options, append ONNX nodes.

Each emitter takes the GraphBuilder and the tflite Operator. 4-D activations are NCHW inside the
ONNX graph (see convert.py), so layout-sensitive ops remap axes, pads and weights here:
CONV_2D weights OHWI -> OIHW, DEPTHWISE_CONV_2D 1HWC -> C1HW with group = input channels, TF SAME
padding -> explicit (possibly asymmetric) pads, PAD/CONCATENATION axes NHWC -> NCHW, RESHAPE via
NHWC with -1 for the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tflite

from server.errors import InvalidInputError
from server.pose.convert import NCHW_TO_NHWC, NHWC_TO_NCHW, GraphBuilder
from server.pose.convert_consts import densify, dequantize

Emitter = Callable[[GraphBuilder, Any], None]

# NHWC axis -> NCHW axis for 4-D tensors.
_AXIS_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}
_ACT = tflite.ActivationFunctionType


def _ins(op: Any) -> list[int]:
    return [int(i) for i in op.InputsAsNumpy()]


def _out(op: Any) -> int:
    return int(op.OutputsAsNumpy()[0])


def _options(op: Any, cls: type[Any]) -> Any:
    table = op.BuiltinOptions()
    options = cls()
    if table is None:
        raise InvalidInputError(f"op with {cls.__name__} has no options table")
    options.Init(table.Bytes, table.Pos)
    return options


def _raw(b: GraphBuilder, op_name: str, out: int, activation: int) -> str:
    """Name for the op's own result: the tensor's value itself when there is no fused
    activation, else an intermediate that `_finish` runs the activation on."""
    if activation not in (_ACT.NONE, _ACT.RELU, _ACT.RELU6):
        raise InvalidInputError(f"{op_name}: fused activation {activation} is not supported")
    return b.output(out) if activation == _ACT.NONE else b.fresh(f"{b.tensor_name(out)}__pre")


def _finish(b: GraphBuilder, raw: str, activation: int, out: int) -> None:
    """Apply the fused activation to `raw`, writing the value of tflite tensor `out`."""
    if activation == _ACT.RELU:
        b.node("Relu", [raw], [b.output(out)])
    elif activation == _ACT.RELU6:
        low = b.shared_initializer(np.array(0.0, np.float32), "relu6_min")
        high = b.shared_initializer(np.array(6.0, np.float32), "relu6_max")
        b.node("Clip", [raw, low, high], [b.output(out)])


def same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF "SAME" padding for one spatial axis as (before, after): output = ceil(size / stride);
    the total pad is split with the extra pixel after, as TF does."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _spatial_pads(
    b: GraphBuilder,
    x: int,
    padding: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dil: tuple[int, int],
) -> list[int]:
    if padding == tflite.Padding.VALID:
        return [0, 0, 0, 0]
    _, h, w, _ = b.shape(x)
    top, bottom = same_pads(h, kernel[0], stride[0], dil[0])
    left, right = same_pads(w, kernel[1], stride[1], dil[1])
    return [top, left, bottom, right]


def _conv(b: GraphBuilder, op: Any, depthwise: bool) -> None:
    name = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
    ins = _ins(op)
    opts = _options(op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
    weights = b.require_constant(ins[1], "weights", name).astype(np.float32)
    if depthwise:
        # 1HWC -> C1HW: one filter per output channel, grouped by input channel.
        kernel_w = weights.transpose(3, 0, 1, 2)
        group = b.shape(ins[0])[3]
    else:
        kernel_w = weights.transpose(0, 3, 1, 2)  # OHWI -> OIHW
        group = 1
    stride = (int(opts.StrideH()), int(opts.StrideW()))
    dil = (int(opts.DilationHFactor()), int(opts.DilationWFactor()))
    ksize = (int(kernel_w.shape[2]), int(kernel_w.shape[3]))
    inputs = [b.activation(ins[0]), b.initializer(kernel_w, f"{b.tensor_name(ins[1])}__oihw")]
    if len(ins) > 2 and ins[2] >= 0:
        bias = b.require_constant(ins[2], "bias", name).astype(np.float32)
        inputs.append(b.initializer(bias, b.tensor_name(ins[2])))
    act = int(opts.FusedActivationFunction())
    raw = _raw(b, name, _out(op), act)
    b.node(
        "Conv",
        inputs,
        [raw],
        kernel_shape=list(ksize),
        strides=list(stride),
        dilations=list(dil),
        pads=_spatial_pads(b, ins[0], int(opts.Padding()), ksize, stride, dil),
        group=group,
    )
    _finish(b, raw, act, _out(op))


def emit_conv2d(b: GraphBuilder, op: Any) -> None:
    _conv(b, op, depthwise=False)


def emit_depthwise_conv2d(b: GraphBuilder, op: Any) -> None:
    _conv(b, op, depthwise=True)


def emit_max_pool2d(b: GraphBuilder, op: Any) -> None:
    ins = _ins(op)
    opts = _options(op, tflite.Pool2DOptions)
    kernel = (int(opts.FilterHeight()), int(opts.FilterWidth()))
    stride = (int(opts.StrideH()), int(opts.StrideW()))
    act = int(opts.FusedActivationFunction())
    raw = _raw(b, "MAX_POOL_2D", _out(op), act)
    pads = _spatial_pads(b, ins[0], int(opts.Padding()), kernel, stride, (1, 1))
    b.node(
        "MaxPool",
        [b.activation(ins[0])],
        [raw],
        kernel_shape=list(kernel),
        strides=list(stride),
        pads=pads,
    )
    _finish(b, raw, act, _out(op))


def emit_add(b: GraphBuilder, op: Any) -> None:
    ins = _ins(op)
    if len(b.shape(ins[0])) != len(b.shape(ins[1])):
        # Broadcasting a lower-rank operand against NCHW would need axis remapping; not needed here.
        raise InvalidInputError(
            f"ADD of ranks {len(b.shape(ins[0]))} and {len(b.shape(ins[1]))} is not supported"
        )
    act = int(_options(op, tflite.AddOptions).FusedActivationFunction())
    raw = _raw(b, "ADD", _out(op), act)
    b.node("Add", [b.activation(ins[0]), b.activation(ins[1])], [raw])
    _finish(b, raw, act, _out(op))


def emit_pad(b: GraphBuilder, op: Any) -> None:
    ins = _ins(op)
    paddings = b.require_constant(ins[1], "paddings", "PAD").astype(np.int64).reshape(-1, 2)
    if paddings.shape[0] == 4:
        paddings = paddings[list(NHWC_TO_NCHW)]
    # ONNX wants all the "before" pads, then all the "after" pads.
    pads = np.concatenate([paddings[:, 0], paddings[:, 1]])
    b.node(
        "Pad",
        [b.activation(ins[0]), b.initializer(pads, "pads")],
        [b.output(_out(op))],
        mode="constant",
    )


def emit_concatenation(b: GraphBuilder, op: Any) -> None:
    ins = _ins(op)
    opts = _options(op, tflite.ConcatenationOptions)
    rank = len(b.shape(ins[0]))
    axis = int(opts.Axis()) % rank
    if rank == 4:
        axis = _AXIS_TO_NCHW[axis]
    act = int(opts.FusedActivationFunction())
    raw = _raw(b, "CONCATENATION", _out(op), act)
    b.node("Concat", [b.activation(i) for i in ins], [raw], axis=axis)
    _finish(b, raw, act, _out(op))


def emit_reshape(b: GraphBuilder, op: Any) -> None:
    ins, out = _ins(op), _out(op)
    in_shape, out_shape = b.shape(ins[0]), b.shape(out)
    if not in_shape or not out_shape or in_shape[0] != 1 or out_shape[0] != 1:
        # The batch axis becomes -1 below; that is only right when axis 0 is the batch of 1.
        raise InvalidInputError(
            f"RESHAPE {in_shape} -> {out_shape} does not keep a leading batch axis"
        )
    source = b.activation(ins[0])
    if len(in_shape) == 4:
        nhwc = b.fresh(f"{b.tensor_name(ins[0])}__nhwc")
        b.node("Transpose", [source], [nhwc], perm=list(NCHW_TO_NHWC))
        source = nhwc
    target = np.array([-1, *out_shape[1:]], dtype=np.int64)
    shape_name = b.initializer(target, f"{b.tensor_name(out)}__shape")
    if len(out_shape) == 4:
        flat = b.fresh(f"{b.tensor_name(out)}__nhwc")
        b.node("Reshape", [source, shape_name], [flat])
        b.node("Transpose", [flat], [b.output(out)], perm=list(NHWC_TO_NCHW))
    else:
        b.node("Reshape", [source, shape_name], [b.output(out)])


def emit_resize_bilinear(b: GraphBuilder, op: Any) -> None:
    ins = _ins(op)
    opts = _options(op, tflite.ResizeBilinearOptions)
    size = b.require_constant(ins[1], "size", "RESIZE_BILINEAR").astype(np.int64).reshape(2)
    if opts.AlignCorners():
        mode = "align_corners"
    elif opts.HalfPixelCenters():
        mode = "half_pixel"  # (out + 0.5) / scale - 0.5, as TF's half_pixel_centers
    else:
        mode = "asymmetric"  # TF's legacy out / scale
    sizes = b.initializer(size, f"{b.tensor_name(_out(op))}__size")
    b.node(
        "Resize",
        [b.activation(ins[0]), "", "", sizes],
        [b.output(_out(op))],
        mode="linear",
        coordinate_transformation_mode=mode,
        axes=[2, 3],
    )


def emit_depth_to_space(b: GraphBuilder, op: Any) -> None:
    block = int(_options(op, tflite.DepthToSpaceOptions).BlockSize())
    # TF's channel order (row offset, column offset, channel) is ONNX's DCR mode.
    b.node(
        "DepthToSpace",
        [b.activation(_ins(op)[0])],
        [b.output(_out(op))],
        blocksize=block,
        mode="DCR",
    )


def emit_logistic(b: GraphBuilder, op: Any) -> None:
    b.node("Sigmoid", [b.activation(_ins(op)[0])], [b.output(_out(op))])


def emit_dequantize(b: GraphBuilder, op: Any) -> None:
    ins, out = _ins(op), _out(op)
    value = b.require_constant(ins[0], "input", "DEQUANTIZE")
    b.constants[out] = dequantize(value, b.tensor(ins[0]))


def emit_densify(b: GraphBuilder, op: Any) -> None:
    ins, out = _ins(op), _out(op)
    tensor = b.tensor(ins[0])
    if tensor.Sparsity() is None:
        raise InvalidInputError(
            f"DENSIFY input {b.tensor_name(ins[0])!r} has no sparsity parameters"
        )
    b.constants[out] = densify(b.require_constant(ins[0], "input", "DENSIFY"), tensor)


_OP = tflite.BuiltinOperator
EMITTERS: dict[int, Emitter] = {
    _OP.CONV_2D: emit_conv2d,
    _OP.DEPTHWISE_CONV_2D: emit_depthwise_conv2d,
    _OP.MAX_POOL_2D: emit_max_pool2d,
    _OP.ADD: emit_add,
    _OP.PAD: emit_pad,
    _OP.CONCATENATION: emit_concatenation,
    _OP.RESHAPE: emit_reshape,
    _OP.RESIZE_BILINEAR: emit_resize_bilinear,
    _OP.DEPTH_TO_SPACE: emit_depth_to_space,
    _OP.LOGISTIC: emit_logistic,
    _OP.DEQUANTIZE: emit_dequantize,
    _OP.DENSIFY: emit_densify,
}
