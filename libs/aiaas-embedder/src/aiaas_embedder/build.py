"""Build step: the int8-MatMul variant of the shipped model (run once per machine or image, never per request).

The shipped file stores each MatMul weight as int8 + a per-column scale and dequantizes it in the graph
(`Mul(Cast(int8 initializer), fp32 scale)`), so `quantize_dynamic` finds no constant weight and quantizes
nothing. Folding each such product into one fp32 initializer (exact: int8 × scale) gives the MatMuls
constant weights, which `quantize_dynamic(per_channel=True)` turns into int8 MatMulIntegers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

__all__ = ["fold_weight_dequant", "quantize_int8"]


def fold_weight_dequant(model: onnx.ModelProto) -> onnx.ModelProto:
    """Replace each `Mul(Cast(int8 initializer), fp32 scale initializer)` by its fp32 product, in place."""
    inits = {init.name: init for init in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}
    uses: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    drop_nodes: set[int] = set()
    drop_inits: set[str] = set()
    folded: list[onnx.TensorProto] = []
    for node in model.graph.node:
        if node.op_type != "Mul" or len(node.input) != 2:
            continue
        cast, scale = producer.get(node.input[0]), inits.get(node.input[1])
        if cast is None or cast.op_type != "Cast" or scale is None or cast.input[0] not in inits:
            continue
        quantized = numpy_helper.to_array(inits[cast.input[0]])
        if quantized.dtype != np.int8 or uses.get(node.input[0], 0) != 1:
            continue
        weight = quantized.astype(np.float32) * numpy_helper.to_array(scale).astype(np.float32)
        folded.append(numpy_helper.from_array(weight.astype(np.float32), node.output[0]))
        drop_nodes.update({id(node), id(cast)})
        drop_inits.add(cast.input[0])
        if uses.get(node.input[1], 0) == 1:
            drop_inits.add(node.input[1])
    kept_nodes = [node for node in model.graph.node if id(node) not in drop_nodes]
    del model.graph.node[:]
    model.graph.node.extend(kept_nodes)
    kept_inits = [init for init in model.graph.initializer if init.name not in drop_inits]
    del model.graph.initializer[:]
    model.graph.initializer.extend([*kept_inits, *folded])
    return model


def quantize_int8(source: Path, target: Path) -> None:
    """Fold the shipped file's weight dequantization, then quantize its MatMuls per channel (deterministic)."""
    folded = target.with_name(target.name + ".folded")
    onnx.save(fold_weight_dequant(onnx.load(str(source))), str(folded))
    try:
        quantize_dynamic(str(folded), str(target), per_channel=True, weight_type=QuantType.QInt8)
    finally:
        folded.unlink(missing_ok=True)
