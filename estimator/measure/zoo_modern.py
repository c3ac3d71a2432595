"""The modern set: evaluation-only exports of models users export today, from timm, transformers and ultralytics.

MODERN_MODELS (training_data/modern/) are never trained on, like the unseen set: hybrid conv/attention
classifiers, re-parameterised and ghost nets from timm; encoders and decoders built from transformers
configs written here; YOLO detectors, segmenters and pose models and RT-DETR built from ultralytics'
packaged yaml files. Weights are random: timm with pretrained=False, transformers from a *Config, ultralytics
from its yaml, never a hub download. Batch 1, fixed shapes. Needs the `modern` extra; every exporting library
is imported inside its builder, never when this module is imported.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from estimator.files import write_atomic
from graph import extract_layers
from graph.build import save_shape_only

__all__ = ["MANIFEST_NAME", "MODERN_MODELS", "ModernSpec", "export_modern", "library_version", "manifest_entry",
           "read_manifest", "write_manifest"]

MANIFEST_NAME = "models.json"
Builder = Callable[[], Any]
Input = tuple[str, tuple[int, ...], str]  # (name, shape, dtype); int64 inputs are token ids (or a mask of ones)


@dataclass(frozen=True)
class ModernSpec:
    """One model of the modern set: who builds it, from what, with which inputs and exporter."""

    name: str
    library: str  # timm, transformers or ultralytics
    tags: tuple[str, ...]  # families: attention, hybrid, detection, re-parameterised, ghost, ...
    built: str  # what was built: the timm name, the config written here, the yaml
    build: Builder  # () -> torch.nn.Module in eval mode, ready to trace
    inputs: tuple[Input, ...]
    outputs: tuple[str, ...] = ("output",)
    exporter: str = "legacy"  # legacy (TorchScript, dynamo=False) or dynamo
    opset: int = 17


# ---- timm ---------------------------------------------------------------------------------------------------


def _timm(name: str, reparameterize: bool = False) -> Builder:
    def build():
        import timm

        model = timm.create_model(name, pretrained=False).eval()
        if reparameterize:  # as deployed: the train-time branches folded into one conv per block
            from timm.utils.model import reparameterize_model

            model = reparameterize_model(model)
        return model

    return build


def _image(size: int) -> tuple[Input, ...]:
    return (("input", (1, 3, size, size), "float32"),)


def _timm_spec(name: str, tags: tuple[str, ...], size: int = 224, reparameterize: bool = False) -> ModernSpec:
    built = f"timm.create_model({name!r}, pretrained=False)" + (", reparameterize_model" if reparameterize else "")
    return ModernSpec(name, "timm", tags, built, _timm(name, reparameterize), _image(size), ("logits",))


# ---- transformers -------------------------------------------------------------------------------------------


def _named_outputs(model: Any, inputs: tuple[str, ...], fields: tuple[str, ...]) -> Any:
    """Wrap a transformers model so that the traced graph takes its inputs by name and returns tensors."""
    import torch

    class NamedOutputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            output = self.model(**dict(zip(inputs, tensors, strict=True)), return_dict=True)
            return tuple(output[field] for field in fields)

    return NamedOutputs().eval()


def _transformers(model_class: str, config_class: str, inputs: tuple[str, ...], fields: tuple[str, ...],
                  encoder_only: bool, config: dict[str, Any]) -> Builder:
    def build():
        import transformers

        model = getattr(transformers, model_class)(getattr(transformers, config_class)(**config))
        if encoder_only:
            model = model.get_encoder()
        return _named_outputs(model.eval(), inputs, fields)

    return build


def _describe(config_class: str, config: dict[str, Any]) -> str:
    arguments = ", ".join(f"{key}={value!r}" for key, value in config.items())
    return f"{config_class}({arguments})"


def _tokens(sequence: int, mask: bool = True) -> tuple[Input, ...]:
    ids: tuple[Input, ...] = (("input_ids", (1, sequence), "int64"),)
    return (*ids, ("attention_mask", (1, sequence), "int64")) if mask else ids


def _hf_spec(name: str, tags: tuple[str, ...], model_class: str, config_class: str, inputs: tuple[Input, ...],
             fields: tuple[str, ...] = ("last_hidden_state",), encoder_only: bool = False, exporter: str = "legacy",
             **config: Any) -> ModernSpec:
    config = {**config, "attn_implementation": "eager"}  # attention as MatMul/Softmax, as most exports show it
    built = f"{model_class}({_describe(config_class, config)})" + (".get_encoder()" if encoder_only else "")
    names = tuple(name for name, _, _ in inputs)
    return ModernSpec(name, "transformers", tags, built,
                      _transformers(model_class, config_class, names, fields, encoder_only, config), inputs, fields,
                      exporter=exporter)


# ---- ultralytics --------------------------------------------------------------------------------------------


def _ultralytics(yaml: str) -> Builder:
    def build():
        # YOLO("x.yaml") (RTDETR for RT-DETR) builds from the packaged yaml: random weights, no download
        from ultralytics import RTDETR, YOLO
        from ultralytics.nn.modules.head import Detect, RTDETRDecoder

        model = (RTDETR if yaml.startswith("rtdetr") else YOLO)(yaml).model.eval()
        model = model.fuse(verbose=False) if hasattr(model, "fuse") else model
        # What ultralytics' own ONNX exporter sets before torch.onnx.export (it is not called: it checks and
        # may install requirements and simplifies with onnxslim).
        for module in model.modules():
            if isinstance(module, (Detect, RTDETRDecoder)):
                module.export, module.format, module.dynamic = True, "onnx", False
        for parameter in model.parameters():
            parameter.requires_grad = False
        return model

    return build


def _yolo_spec(name: str, yaml: str, tags: tuple[str, ...], outputs: tuple[str, ...] = ("output0",)) -> ModernSpec:
    built = f"{'RTDETR' if yaml.startswith('rtdetr') else 'YOLO'}({yaml!r}).model, fused, heads in export mode"
    return ModernSpec(name, "ultralytics", tags, built, _ultralytics(yaml), (("images", (1, 3, 640, 640), "float32"),),
                      outputs)


# ---- the set ------------------------------------------------------------------------------------------------

_BERT_BASE: dict[str, Any] = {}  # BertConfig()'s defaults are bert-base-uncased: 12 layers, 768, 12 heads
_LONG_BERT = {"hidden_size": 512, "num_hidden_layers": 8, "num_attention_heads": 8, "intermediate_size": 2048,
              "max_position_embeddings": 1024}
_LLAMA = {"vocab_size": 32000, "hidden_size": 512, "intermediate_size": 1408, "num_hidden_layers": 8,
          "num_attention_heads": 8, "num_key_value_heads": 2, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
          "use_cache": False}
_DEBERTA = {"vocab_size": 128100, "hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6,
            "intermediate_size": 1536, "relative_attention": True, "position_buckets": 256,
            "pos_att_type": ["p2c", "c2p"], "max_relative_positions": -1, "position_biased_input": False,
            "norm_rel_ebd": "layer_norm", "share_att_key": True}
_WHISPER_TINY = {"d_model": 384, "encoder_layers": 4, "encoder_attention_heads": 6, "decoder_layers": 4,
                 "decoder_attention_heads": 6, "encoder_ffn_dim": 1536, "decoder_ffn_dim": 1536, "num_mel_bins": 80,
                 "max_source_positions": 1500, "use_cache": False}
_T5_SMALL = {"d_model": 512, "d_ff": 2048, "num_layers": 6, "num_heads": 8, "d_kv": 64, "vocab_size": 32128,
             "feed_forward_proj": "relu", "use_cache": False}

MODERN_MODELS: dict[str, ModernSpec] = {spec.name: spec for spec in (
    # timm: hybrid conv/attention, re-parameterised, ghost and pure-attention classifiers
    _timm_spec("mobilevit_xxs", ("hybrid", "attention"), 256),
    _timm_spec("mobilevitv2_050", ("hybrid", "attention", "separable-attention"), 256),
    _timm_spec("efficientformer_l1", ("hybrid", "attention", "pooling-mixer")),
    _timm_spec("efficientformerv2_s0", ("hybrid", "attention")),
    _timm_spec("levit_128s", ("hybrid", "attention")),
    _timm_spec("fastvit_t8", ("hybrid", "re-parameterised", "depthwise"), 256, reparameterize=True),
    _timm_spec("repvit_m0_9", ("re-parameterised", "depthwise"), reparameterize=True),
    _timm_spec("edgenext_xx_small", ("hybrid", "attention", "depthwise"), 256),
    _timm_spec("tiny_vit_5m_224", ("hybrid", "attention", "windowed-attention")),
    _timm_spec("efficientvit_b0", ("hybrid", "linear-attention")),
    _timm_spec("ghostnetv2_100", ("ghost", "depthwise")),
    _timm_spec("mobilenetv4_conv_small", ("depthwise", "convolutional")),
    _timm_spec("mobilenetv4_hybrid_medium", ("hybrid", "attention", "depthwise")),
    _timm_spec("convnextv2_atto", ("convolutional", "depthwise-7x7")),
    _timm_spec("deit_tiny_patch16_224", ("attention", "vision-transformer")),
    _timm_spec("swin_tiny_patch4_window7_224", ("attention", "windowed-attention", "relative-position-bias")),
    _timm_spec("poolformer_s12", ("pooling-mixer", "metaformer")),
    # transformers: encoders and decoders from configs written here
    _hf_spec("bert_base_seq128", ("attention", "encoder"), "BertModel", "BertConfig", _tokens(128),
             ("last_hidden_state", "pooler_output"), **_BERT_BASE),
    _hf_spec("distilbert_base_seq128", ("attention", "encoder"), "DistilBertModel", "DistilBertConfig", _tokens(128)),
    _hf_spec("gpt2_small_seq128", ("attention", "decoder", "causal"), "GPT2LMHeadModel", "GPT2Config",
             _tokens(128), ("logits",), use_cache=False),
    _hf_spec("hf_vit_base_patch16_224", ("attention", "vision-transformer"), "ViTModel", "ViTConfig",
             (("pixel_values", (1, 3, 224, 224), "float32"),), ("last_hidden_state", "pooler_output")),
    _hf_spec("whisper_tiny_encoder", ("attention", "encoder", "audio"), "WhisperModel", "WhisperConfig",
             (("input_features", (1, 80, 3000), "float32"),), encoder_only=True, **_WHISPER_TINY),
    _hf_spec("llama_small_gqa_seq256", ("attention", "decoder", "causal", "grouped-query", "rmsnorm", "rotary"),
             "LlamaForCausalLM", "LlamaConfig", _tokens(256), ("logits",), **_LLAMA),
    _hf_spec("deberta_v3_xsmall_seq128", ("attention", "encoder", "relative-position"), "DebertaV2Model",
             "DebertaV2Config", _tokens(128), **_DEBERTA),
    _hf_spec("t5_small_encoder_seq128", ("attention", "encoder", "relative-position-bias"), "T5EncoderModel",
             "T5Config", _tokens(128), **_T5_SMALL),
    _hf_spec("bert_long_seq1024", ("attention", "encoder", "long-sequence"), "BertModel", "BertConfig",
             _tokens(1024), **_LONG_BERT),
    # ultralytics: YOLO from the packaged yaml, 640x640
    _yolo_spec("yolo11n", "yolo11n.yaml", ("detection", "convolutional", "attention")),
    _yolo_spec("yolo11s", "yolo11s.yaml", ("detection", "convolutional", "attention")),
    _yolo_spec("yolov8n_seg", "yolov8n-seg.yaml", ("segmentation", "detection", "convolutional"), ("output0", "output1")),
    _yolo_spec("yolo11n_pose", "yolo11n-pose.yaml", ("pose", "detection", "convolutional", "attention")),
    _yolo_spec("rtdetr_l", "rtdetr-l.yaml", ("detection", "hybrid", "attention", "deformable-attention")),
    # torch.onnx.export's default since torch 2.9 (dynamo=True, opset 18): the same builders, the other exporter
    *(replace(spec, name=f"{spec.name}_dynamo", exporter="dynamo", opset=18, tags=(*spec.tags, "dynamo"))
      for spec in (_timm_spec("deit_tiny_patch16_224", ("attention", "vision-transformer")),
                   _timm_spec("convnextv2_atto", ("convolutional", "depthwise-7x7")),
                   _hf_spec("bert_base_seq128", ("attention", "encoder"), "BertModel", "BertConfig", _tokens(128),
                            ("last_hidden_state", "pooler_output"), **_BERT_BASE))),
)}


def library_version(library: str) -> str:
    """The installed version of the library that built a model (importlib.metadata, no import of it)."""
    from importlib.metadata import version

    return version(library)


def export_modern(spec: ModernSpec, path: Path) -> dict[str, Any]:
    """Build one model with random weights, export it, save it shape-only at `path`; its manifest entry."""
    import torch

    torch.manual_seed(0)
    model = spec.build()
    examples = tuple(_example(shape, dtype, name) for name, shape, dtype in spec.inputs)
    names = [name for name, _, _ in spec.inputs]
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / f"{spec.name}.onnx"
        with torch.no_grad():
            if spec.exporter == "dynamo":
                program = torch.onnx.export(model, examples, dynamo=True, opset_version=spec.opset, input_names=names,
                                            output_names=list(spec.outputs), optimize=True)
                program.save(str(full))
            else:
                torch.onnx.export(model, examples, str(full), dynamo=False, opset_version=spec.opset,
                                  input_names=names, output_names=list(spec.outputs))
        library = f"{spec.library} {library_version(spec.library)}"
        save_shape_only(full, path, f"{spec.exporter} exporter, {library}, scripts/export_zoo.py --set modern")
    return manifest_entry(spec, path)


def manifest_entry(spec: ModernSpec, path: Path) -> dict[str, Any]:
    """What models.json records of one export: who built what, with which versions, exporter and shapes."""
    import torch

    return {
        "name": spec.name,
        "file": path.name,
        "library": spec.library,
        "library_version": library_version(spec.library),
        "torch_version": torch.__version__.split("+")[0],
        "exporter": spec.exporter,
        "opset": extract_layers(path).opset,
        "inputs": [{"name": name, "shape": list(shape), "dtype": dtype} for name, shape, dtype in spec.inputs],
        "outputs": list(spec.outputs),
        "built": spec.built,
        "tags": list(spec.tags),
    }


def read_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """models.json of a modern folder by model name ({} when there is none yet)."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return {}
    return {entry["name"]: entry for entry in json.loads(path.read_text())["models"]}


def write_manifest(folder: Path, entries: dict[str, dict[str, Any]]) -> None:
    """models.json, in MODERN_MODELS' order, written atomically."""
    order = [name for name in MODERN_MODELS if name in entries] + sorted(set(entries) - set(MODERN_MODELS))
    document = {"set": "modern", "evaluation_only": True, "models": [entries[name] for name in order]}
    write_atomic(Path(folder) / MANIFEST_NAME, json.dumps(document, indent=1) + "\n")


def _example(shape: tuple[int, ...], dtype: str, name: str):
    import torch

    if dtype == "int64":
        if "mask" in name:
            return torch.ones(shape, dtype=torch.int64)
        return torch.randint(0, 1000, shape, dtype=torch.int64)
    return torch.randn(*shape)
