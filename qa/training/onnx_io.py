"""The reader's ONNX file: exporting a trained span model to it (traced, attention fused,
quantised to int8 per channel) and recovering a model's weights from one, so that a further
stage can start from a shipped reader whose checkpoints are gone."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from qa.errors import BadInputError
from qa.reader.model import ONNX_FILE

log = logging.getLogger(__name__)


def span_model(base_path: str) -> Any:
    """The base encoder with a linear start/end head: what is trained and exported."""
    import torch
    from transformers import AutoModel

    class SpanReader(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(base_path)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 2)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            h = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            logits = self.head(h)
            return logits[..., 0], logits[..., 1]

    return SpanReader()


def weights_from_onnx(path: Path, base_path: str) -> dict[str, Any]:
    """The span reader's weights recovered from an exported ``reader.onnx``.

    Checkpoints live outside the repository and are lost with the machine; the shipped reader
    is not. A fresh model exported the same way names every initializer the same, so each
    (int8 weight, per-channel scale, zero point) triple is dequantised onto the parameter
    whose export it is. The int8 rounding (at most half a scale step per weight) is what
    further training starts from. The result is checked against the ONNX model's own logits
    and refused when they disagree (another architecture or exporter)."""
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:
        raise BadInputError(f"--init-from: {path} is not a readable ONNX model ({exc})") from exc
    stored = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    # Readers exported before attention was fused hold one MatMul per projection; later ones
    # one QAttention a layer. The fresh export takes the same layout, so names line up.
    fused = any(n.op_type in ("Attention", "QAttention") for n in graph.node)
    model = span_model(base_path)
    model.eval()
    params = dict(model.state_dict())
    with tempfile.TemporaryDirectory() as tmp:
        fresh_path = Path(tmp) / "fresh.onnx"
        export_fp32(model, fresh_path, for_fusion=fused)
        if fused:
            fuse(fresh_path, fresh_path, model.encoder.config)
        fresh = {
            i.name: numpy_helper.to_array(i) for i in onnx.load(str(fresh_path)).graph.initializer
        }

    def dequantised(name: str) -> np.ndarray | None:
        if name in stored:
            return np.asarray(stored[name], dtype=np.float32)
        q, scale = stored.get(name + "_quantized"), stored.get(name + "_scale")
        if q is None or scale is None:
            return None
        zero = stored.get(name + "_zero_point", np.zeros_like(scale))
        scale, zero = np.asarray(scale, np.float32), np.asarray(zero, np.float32)
        if scale.ndim == 1 and scale.size > 1:
            # Per channel: one scale per output column (MatMul weights, the last axis), or
            # per row where only the first axis has that length.
            axis = q.ndim - 1 if q.shape[-1] == scale.size else q.shape.index(scale.size)
            shape = [1] * q.ndim
            shape[axis] = scale.size
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        return (q.astype(np.float32) - zero) * scale

    weights: dict[str, Any] = {}
    for pname, tensor in params.items():
        value = tensor.detach().cpu().numpy()
        found = _locate(pname, value, fresh)
        if found is None:
            # Not in the fresh export either (the unused pooler, buffers): it cannot change
            # the logits, so the base model's value stands.
            weights[pname] = tensor
            continue
        source, transposed, block = found
        got = dequantised(source)
        if got is None or got.shape != fresh[source].shape:
            raise BadInputError(f"--init-from: {path} does not match this model at {pname}")
        if block is not None:
            got = got[..., block]
        weights[pname] = torch.from_numpy(np.array(got.T if transposed else got, dtype=np.float32))
    check_against_onnx(path, model, weights)
    return weights


def _locate(name: str, value: Any, fresh: dict[str, Any]) -> tuple[str, bool, slice | None] | None:
    """Where a fresh export keeps parameter ``name``: (initializer, transposed, block of its
    last axis). A parameter is exported under its own name; a MatMul's weight transposed under
    a generated one; a fused attention's query, key and value projections side by side in one
    weight (and one bias), so each is a block of it. Matched by exact values: the fresh
    export is of the same weights."""
    import numpy as np

    if name in fresh:
        return name, False, None
    transposed = value.ndim == 2
    target = value.T if transposed else value
    for n, arr in fresh.items():
        if arr.shape == target.shape and np.array_equal(arr, target):
            return n, transposed, None
    width = target.shape[-1] if target.ndim else 0
    for n, arr in fresh.items():
        if (
            width
            and arr.ndim == target.ndim
            and arr.shape[:-1] == target.shape[:-1]
            and arr.shape[-1] > width
            and arr.shape[-1] % width == 0
        ):
            for k in range(arr.shape[-1] // width):
                block = slice(k * width, (k + 1) * width)
                if np.array_equal(arr[..., block], target):
                    return n, transposed, block
    return None


def check_against_onnx(path: Path, model: Any, weights: dict[str, Any]) -> None:
    """Refuse recovered weights whose logits are not the ONNX model's (to int8 rounding)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    model.load_state_dict(weights)
    ids = np.array([[101, 2129, 2116, 3629, 1029, 102, 2340, 1010, 2199, 3629, 2020, 2741, 102]])
    types = np.array([[0] * 6 + [1] * 7])
    mask = np.ones_like(ids)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
    with torch.no_grad():
        got = model(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types))
    # int8 activations at run time move the logits by a few tenths (0.42 at most on the
    # stage-4 reader's probe); another model's logits differ by several.
    worst = max(float(np.abs(g.numpy() - w).max()) for g, w in zip(got, want, strict=True))
    if worst > 1.5:
        raise BadInputError(
            f"--init-from: weights recovered from {path} do not reproduce it "
            f"(logits differ by {worst:.2f})"
        )
    log.info("recovered the weights of %s (logits within %.3f of it)", path, worst)


def export_fp32(model: Any, path: Path, for_fusion: bool = True) -> None:
    """The fp32 graph. ``for_fusion``: traced with eager attention, whose graph onnxruntime's
    BERT fusion recognises (fused attention in 6 of 6 layers; the SDPA graph training runs:
    0 of 6). Without it, traced as readers were before fusion, whose initializer names
    ``weights_from_onnx`` must meet."""
    import warnings

    import torch

    ids = torch.tensor([[101, 2054, 102, 2023, 2003, 102]])
    args = (ids, torch.ones_like(ids), torch.tensor([[0, 0, 0, 1, 1, 1]]))
    dyn = {
        n: {0: "batch", 1: "seq"}
        for n in ("input_ids", "attention_mask", "token_type_ids", "start_logits", "end_logits")
    }
    trained_with = model.encoder.config._attn_implementation
    if for_fusion:
        model.encoder.set_attn_implementation("eager")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                args,
                str(path),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["start_logits", "end_logits"],
                dynamic_axes=dyn,
                opset_version=17,
                dynamo=False,
            )
    finally:
        # Training carries on (or the model is exported again) with its own attention.
        model.encoder.set_attn_implementation(trained_with)


def fuse(src: Path, dst: Path, config: Any) -> None:
    """The fp32 graph with each layer's attention fused into one operator (and GELU, bias
    and skip layer norms into theirs): the int8 reader then runs one QAttention a layer.
    The embeddings stay unfused: fused, their layer norm's weights were quantised to uint8
    with the rest (SQuAD v1.1 check F1 0.839 -> 0.834); unfused, 0.845."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_embed_layer_norm = False
    optimized = optimize_model(
        str(src),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        optimization_options=options,
    )
    fused = optimized.get_fused_operator_statistics().get("Attention", 0)
    if fused != config.num_hidden_layers:
        # Still a correct reader, only slower: say so rather than fail an hour's training.
        log.warning(
            "attention fused in %d of %d layers; the reader will run slower",
            fused,
            config.num_hidden_layers,
        )
    optimized.save_model_to_file(str(dst))


def quantize(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel: one scale per output column. Per-tensor lost 5-6 F1 points (measured in
    # the issue); per-channel about 1.5. Shape inference cannot type the fused operators'
    # outputs (com.microsoft domain): they are float.
    quantize_dynamic(
        str(src),
        str(dst),
        per_channel=True,
        weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def write_onnx(model: Any, folder: Path, fused: bool) -> None:
    """``folder``/reader.onnx: the model exported (``fused``: its attention fused), quantised
    to int8."""
    fp32 = folder / "reader-fp32.onnx"
    export_fp32(model, fp32, for_fusion=fused)
    if fused:
        fuse(fp32, fp32, model.encoder.config)
    quantize(fp32, folder / ONNX_FILE)
    fp32.unlink()
