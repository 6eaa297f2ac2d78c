"""The architecture gallery: the models users bring, built from the libraries' own constructors and config objects.

Every entry builds its model from a config (torchvision's, timm's or Hugging Face transformers' classes, or plain
``torch.nn`` for the small CNN blocks), with weights drawn from a seeded generator: nothing is downloaded
(``HF_HUB_OFFLINE=1`` is set before transformers is imported, and no entry calls ``from_pretrained``). Each is
reduced to a size a 2-core machine can prove, and the entry states the reductions. ``python -m benchmarks
architectures`` exports each one with ``zkml.export``, compiles it (split with ``max_logrows`` where the entry says),
proves, verifies and compares the proof's outputs with onnxruntime and with the torch model
(``benchmarks/results/architectures.md``).

What an entry changes besides the sizes, and why:

- Hugging Face models are wrapped to return their logits (or last hidden state) only: ``use_cache=False``, no
  ``past_key_values`` and no attention tuple in the graph.
- Causal language models get an explicit additive 4D mask (0 on and below the diagonal, :data:`CAUSAL_MASK` above)
  instead of transformers' own, whose masked value is ``finfo(float32).min`` (-3.4e38): no fixed-point scale holds
  it, and ezkl refuses the graph at settings ("significant bit truncation when instantiating, try lowering the
  scale"). exp(-8) is under the circuit's resolution, so the softmax is the same to within the stated error; the
  torch reference runs with the same mask.
- Token ids stay int64 inputs (``zkml.export`` keeps their dtype; the embedding ``Gather`` reads a private index).
- torchvision's compiled ops (``torchvision/_C.so``) link against the CUDA build of torch and do not load beside
  the pinned CPU torch 2.13.0; torchvision 0.28's import then fails registering fake kernels for ``nms``/``qnms``
  ("operator torchvision::nms does not exist"). :func:`torchvision_import_fix` declares those two schemas (no
  kernel) before the import, so ``import torchvision`` (and timm, and transformers, which imports it) works; the
  classification models use no torchvision C++ op, and detection ops stay unusable.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any, Callable

SEED = 0
CAUSAL_MASK = -8.0  # the additive mask above the diagonal (see the module docstring)
_SCHEMA_LIB: list = []  # keeps the torch.library.Library that holds the declared schemas alive


def offline() -> None:
    """No hub access, ever: set before transformers or timm is imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def torchvision_import_fix() -> str | None:
    """Make ``import torchvision`` work beside a torch whose build its ``_C.so`` was not linked for.

    Returns None when torchvision is absent or its ops load; otherwise the loader's reason, after declaring the
    ``nms``/``qnms`` schemas its import registers fake kernels for (no kernel: calling them fails)."""
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    if _SCHEMA_LIB:
        return "declared"
    so = os.path.join(list(spec.submodule_search_locations)[0], "_C.so")
    try:
        torch.ops.load_library(so)
        return None
    except (OSError, RuntimeError) as err:
        reason = str(err).splitlines()[0][:200]
    lib = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _SCHEMA_LIB.append(lib)
    return reason


def have(library: str) -> bool:
    return importlib.util.find_spec(library) is not None


@dataclass
class Entry:
    name: str
    library: str  # "transformers", "torchvision", "timm" or "torch.nn"
    constructor: str  # the class or function that builds it
    reductions: str  # what is smaller than the library's default config
    build: Callable[[], tuple[Any, Any]]  # () -> (torch module in eval mode, sample input)
    max_logrows: int | None = None  # split over 2^K rows; None: one circuit
    notes: list[str] = field(default_factory=list)

    def make(self):
        import torch

        offline()
        torchvision_import_fix()
        torch.manual_seed(SEED)
        module, sample = self.build()
        return module.eval(), sample


# ---------------------------------------------------------------- Hugging Face transformers


def _tokens(vocab: int, n: int, seed: int = SEED):
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (1, n), generator=g, dtype=torch.int64)


def _causal(n: int):
    import torch

    m = torch.full((n, n), CAUSAL_MASK).triu(1)
    return m[None, None]


def _logits_of(
    model, *, causal: bool, field_name: str = "logits", mask_2d: bool = False, positions_from: int | None = None
):
    """A module returning one tensor of a Hugging Face model: ``model(input_ids, mask).<field_name>``."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids):
            kw: dict = {}
            if causal:
                kw["attention_mask"] = _causal(input_ids.shape[-1])
            elif mask_2d:
                kw["attention_mask"] = torch.ones_like(input_ids)
            if positions_from is not None:  # the positions the library derives for an unpadded input
                n = input_ids.shape[-1]
                kw["position_ids"] = torch.arange(positions_from, positions_from + n)[None]
                kw["token_type_ids"] = torch.zeros_like(input_ids)
                kw["attention_mask"] = torch.zeros(1, 1, n, n)  # additive, nothing masked (see ROBERTA_NOTE)
            if causal:
                kw["use_cache"] = False
            out = self.model(input_ids=input_ids, **kw)
            return getattr(out, field_name)

    return Logits()


VOCAB, TOKENS, HIDDEN = 32, 4, 16
_DECODER = dict(
    vocab_size=VOCAB,
    hidden_size=HIDDEN,
    intermediate_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    num_key_value_heads=1,  # grouped-query attention: 2 query heads share one key/value head
    max_position_embeddings=16,
    tie_word_embeddings=False,
    attn_implementation="eager",
)
_DECODER_REDUCTIONS = (
    f"1 layer, hidden {HIDDEN}, 2 query heads / 1 key-value head (GQA kept), MLP 32, vocab {VOCAB}, {TOKENS} tokens"
)


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    return _logits_of(LlamaForCausalLM(LlamaConfig(**_DECODER)), causal=True), _tokens(VOCAB, TOKENS)


def _llama_as_is():
    """The library's model itself: no wrapper, transformers' own causal mask (see AS_IS_NOTE)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(**_DECODER)), _tokens(VOCAB, TOKENS)


def _qwen2():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    return _logits_of(Qwen2ForCausalLM(Qwen2Config(**_DECODER)), causal=True), _tokens(VOCAB, TOKENS)


def _mistral():
    from transformers import MistralConfig, MistralForCausalLM

    cfg = MistralConfig(**_DECODER, sliding_window=None)
    return _logits_of(MistralForCausalLM(cfg), causal=True), _tokens(VOCAB, TOKENS)


def _mixtral():
    from transformers import MixtralConfig, MixtralForCausalLM

    cfg = MixtralConfig(
        **_DECODER,
        num_local_experts=2,
        num_experts_per_tok=1,
        sliding_window=None,
        experts_implementation="batched_mm",  # see MOE_NOTE
    )
    return _logits_of(MixtralForCausalLM(cfg), causal=True), _tokens(VOCAB, TOKENS)


def _roberta():
    from transformers import RobertaConfig, RobertaForSequenceClassification

    cfg = RobertaConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=TOKENS + 2,  # roberta's positions start after padding_idx 1
        type_vocab_size=1,
        num_labels=2,
        attn_implementation="eager",
    )
    ids = _tokens(VOCAB, TOKENS).clamp(min=2)  # no padding token (1) in the sample: every position is real
    return _logits_of(RobertaForSequenceClassification(cfg), causal=False, mask_2d=True, positions_from=2), ids


def _t5():
    from transformers import T5Config, T5EncoderModel

    cfg = T5Config(
        vocab_size=VOCAB,
        d_model=HIDDEN,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=16,
    )
    return _logits_of(T5EncoderModel(cfg), causal=False, field_name="last_hidden_state", mask_2d=True), _tokens(
        VOCAB, TOKENS
    )


def _whisper():
    import torch
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    cfg = WhisperConfig(
        num_mel_bins=8,
        d_model=HIDDEN,
        encoder_layers=1,
        encoder_attention_heads=2,
        encoder_ffn_dim=32,
        max_source_positions=4,  # the encoder's second conv has stride 2: 8 frames in, 4 positions out
        attn_implementation="eager",
    )
    enc = WhisperEncoder(cfg)

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = enc

        def forward(self, input_features):
            return self.enc(input_features).last_hidden_state

    g = torch.Generator().manual_seed(SEED)
    return Encoder(), torch.randn(1, 8, 8, generator=g)


# ---------------------------------------------------------------- torchvision and timm


def _image(size: int, channels: int = 3):
    import torch

    g = torch.Generator().manual_seed(SEED)
    return torch.rand(1, channels, size, size, generator=g)


def _mobilenet_v2():
    from torchvision.models import MobileNetV2

    # t, c, n, s: two inverted-residual stages (the library's default has seven, 17 blocks)
    setting = [[1, 8, 1, 1], [6, 8, 2, 2]]
    return MobileNetV2(num_classes=10, width_mult=0.25, inverted_residual_setting=setting, round_nearest=4), _image(16)


def _efficientnet_b0():
    from torchvision.models.efficientnet import EfficientNet, MBConvConfig

    setting = [MBConvConfig(1, 3, 1, 8, 8, 1, 1.0, 1.0), MBConvConfig(6, 3, 2, 8, 8, 1, 1.0, 1.0)]
    return EfficientNet(setting, dropout=0.0, num_classes=10, last_channel=16), _image(16)


def _regnet_x():
    from torchvision.models.regnet import BlockParams, RegNet

    params = BlockParams.from_init_params(depth=2, w_0=8, w_a=8.0, w_m=2.0, group_width=8)
    return RegNet(params, num_classes=10, stem_width=8), _image(16)


def _squeezenet1_1():
    from torchvision.models import squeezenet1_1

    return squeezenet1_1(num_classes=10), _image(32)


def _deit_tiny():
    import timm

    net = timm.create_model(
        "deit_tiny_patch16_224",
        pretrained=False,
        img_size=16,
        patch_size=8,
        embed_dim=16,
        depth=1,
        num_heads=2,
        mlp_ratio=2.0,
        num_classes=10,
    )
    return net, _image(16)


def _mixer():
    from timm.models.mlp_mixer import MlpMixer

    net = MlpMixer(img_size=16, patch_size=8, embed_dim=16, num_blocks=1, mlp_ratio=(0.5, 2.0), num_classes=10)
    import torch

    # timm initialises the mixer's classifier head to zeros (every output would be its zero bias, a constant):
    # draw it from the seeded generator instead
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        net.head.weight.copy_(torch.randn(net.head.weight.shape, generator=g) * 0.2)
    return net, _image(16)


def _levit():
    from timm.models.levit import Levit

    net = Levit(img_size=32, embed_dim=(16, 24, 32), key_dim=8, num_heads=(2, 2, 2), depth=(1, 1, 1), num_classes=10)
    return net, _image(32)


# ---------------------------------------------------------------- plain torch.nn blocks


def _inverted_residual():
    import torch
    from torch import nn

    class InvertedResidual(nn.Module):
        """MobileNetV2's block in plain torch.nn: 1x1 expand, 3x3 depthwise, 1x1 project, residual."""

        def __init__(self, c: int = 4, t: int = 2):
            super().__init__()
            h = c * t
            self.block = nn.Sequential(
                nn.Conv2d(c, h, 1, bias=False),
                nn.BatchNorm2d(h),
                nn.ReLU6(),
                nn.Conv2d(h, h, 3, padding=1, groups=h, bias=False),
                nn.BatchNorm2d(h),
                nn.ReLU6(),
                nn.Conv2d(h, c, 1, bias=False),
                nn.BatchNorm2d(c),
            )
            self.head = nn.Linear(c, 4)

        def forward(self, x):
            y = x + self.block(x)
            return self.head(y.mean(dim=(2, 3)))

    torch.manual_seed(SEED)
    return InvertedResidual(), _image(8, 4)


def _fire():
    import torch
    from torch import nn

    class Fire(nn.Module):
        """SqueezeNet's fire module in plain torch.nn: 1x1 squeeze, then 1x1 and 3x3 expands concatenated."""

        def __init__(self, c: int = 4, s: int = 2, e: int = 4):
            super().__init__()
            self.squeeze = nn.Sequential(nn.Conv2d(c, s, 1), nn.ReLU())
            self.e1 = nn.Sequential(nn.Conv2d(s, e, 1), nn.ReLU())
            self.e3 = nn.Sequential(nn.Conv2d(s, e, 3, padding=1), nn.ReLU())
            self.head = nn.Linear(2 * e, 4)

        def forward(self, x):
            z = self.squeeze(x)
            y = torch.cat([self.e1(z), self.e3(z)], dim=1)
            return self.head(y.mean(dim=(2, 3)))

    torch.manual_seed(SEED)
    return Fire(), _image(8, 4)


ROBERTA_NOTE = (
    "RoBERTa: explicit position ids (2..T+1, what RoBERTa derives for an unpadded input), token type 0 and an all-zero 4D "
    "additive mask: with the library's 2D mask, the padding-mask and position-id ops (Equal, Where, CumSum) fold "
    "into a graph that onnxruntime's own full optimisation then refuses to load ('Attempt to replace the existing "
    "tensor', zkml.model.normalize's fold)"
)
MOE_NOTE = (
    "Mixtral: experts_implementation='batched_mm' (every token's expert weights gathered by its routed index): the default "
    "'grouped_mm' counts tokens per expert with aten::histc, which has no ONNX export, and 'eager' loops in Python "
    "over the experts the sample hits (nonzero/where), so a trace would bake one routing into the graph"
)
ENTRIES: list[Entry] = [
    Entry("llama", "transformers", "LlamaForCausalLM(LlamaConfig)", _DECODER_REDUCTIONS, _llama, max_logrows=17),
    Entry(
        "llama_as_is",
        "transformers",
        "LlamaForCausalLM(LlamaConfig), unwrapped",
        _DECODER_REDUCTIONS,
        _llama_as_is,
        max_logrows=17,
        notes=["llama's model handed to zkml.export as it is (AS_IS_NOTE)"],
    ),
    Entry("qwen2", "transformers", "Qwen2ForCausalLM(Qwen2Config)", _DECODER_REDUCTIONS, _qwen2, max_logrows=17),
    Entry(
        "mistral",
        "transformers",
        "MistralForCausalLM(MistralConfig)",
        _DECODER_REDUCTIONS + ", no sliding window (4 tokens)",
        _mistral,
        max_logrows=17,
        notes=[
            "at this config (no sliding window, same seed) Mistral's graph is Llama's byte for byte: the two "
            "architectures differ only in the sliding window, which 4 tokens never reach"
        ],
    ),
    Entry(
        "mixtral_moe",
        "transformers",
        "MixtralForCausalLM(MixtralConfig)",
        _DECODER_REDUCTIONS + ", 2 experts, top-1 routing, batched_mm experts",
        _mixtral,
        max_logrows=17,
        notes=[
            "the router's TopK indices output (output 1, which gathers each token's expert weights) makes ezkl "
            "panic in src/graph/node.rs (index out of bounds): ezkl's TopK gives only its values. With top-1 "
            "routing zkml now rewrites the TopK into ReduceMax and ArgMax when it loads the model (the export "
            "agrees with torch, tests/test_architectures.py), and the block proves; top-2 routing is refused at "
            "load, naming the node"
        ],
    ),
    Entry(
        "roberta",
        "transformers",
        "RobertaForSequenceClassification(RobertaConfig)",
        f"1 layer, hidden {HIDDEN}, 2 heads, MLP 32, vocab {VOCAB}, {TOKENS} tokens, 2 labels",
        _roberta,
        max_logrows=17,
    ),
    Entry(
        "t5_encoder",
        "transformers",
        "T5EncoderModel(T5Config)",
        f"1 layer, d_model {HIDDEN}, 2 heads of 8, d_ff 32, 8 relative buckets, vocab {VOCAB}, {TOKENS} tokens",
        _t5,
        max_logrows=17,
    ),
    Entry(
        "whisper_encoder",
        "transformers",
        "WhisperEncoder(WhisperConfig)",
        f"1 layer, d_model {HIDDEN}, 2 heads, FFN 32, 8 mel bins x 8 frames (4 positions)",
        _whisper,
        max_logrows=17,
    ),
    Entry(
        "mobilenet_v2",
        "torchvision",
        "MobileNetV2(width_mult, inverted_residual_setting)",
        "width 0.25, 2 stages (3 inverted-residual blocks of the default 17), 16 px, 10 classes",
        _mobilenet_v2,
        max_logrows=17,
    ),
    Entry(
        "efficientnet_b0",
        "torchvision",
        "EfficientNet(MBConvConfig settings)",
        "2 MBConv stages of 8 channels (squeeze-excite, SiLU kept; b0 has 7 stages), head 16, 16 px, 10 classes",
        _efficientnet_b0,
        max_logrows=17,
    ),
    Entry(
        "regnet_x",
        "torchvision",
        "RegNet(BlockParams.from_init_params)",
        "depth 2, w_0 8, w_a 8, w_m 2, group width 8, stem 8 (regnet_x_400mf: depth 22, w_0 24), 16 px, 10 classes",
        _regnet_x,
        max_logrows=17,
    ),
    Entry(
        "squeezenet1_1",
        "torchvision",
        "squeezenet1_1(num_classes=10)",
        "the library's own architecture unchanged (fixed widths), 32 px, 10 classes",
        _squeezenet1_1,
        max_logrows=18,
    ),
    Entry(
        "deit_tiny",
        "timm",
        "create_model('deit_tiny_patch16_224', ...)",
        "16 px, patch 8 (4 patches), embed 16, 1 block, 2 heads, MLP ratio 2, 10 classes",
        _deit_tiny,
        max_logrows=17,
    ),
    Entry(
        "mixer",
        "timm",
        "MlpMixer (timm.models.mlp_mixer; mixer_b16_224's class)",
        "16 px, patch 8 (4 patches), embed 16, 1 block, token/channel MLP ratios 0.5/2, 10 classes; the head "
        "(zeros in timm's init) drawn from N(0, 0.2^2)",
        _mixer,
        max_logrows=17,
    ),
    Entry(
        "levit",
        "timm",
        "Levit (timm.models.levit; levit_128s's class)",
        "32 px, embed (16, 24, 32), key dim 8, 2 heads, depth 1 per stage, 10 classes",
        _levit,
        max_logrows=17,
        notes=[
            "refused at settings: tract's declutter pass fails on LeViT's Downsample, the strided slice "
            "x[:, ::2, ::2] (ONNX Slice with steps 2) between stages; reproduced with timm's Downsample alone"
        ],
    ),
    Entry(
        "inverted_residual",
        "torch.nn",
        "MobileNetV2-style inverted residual (plain torch.nn)",
        "4 channels, expansion 2, 8 px, linear head of 4",
        _inverted_residual,
    ),
    Entry(
        "fire",
        "torch.nn",
        "SqueezeNet fire module (plain torch.nn)",
        "4 channels in, squeeze 2, expands 4 + 4, 8 px, linear head of 4",
        _fire,
    ),
]
CAUSAL_NOTE = (
    f"causal language models: an explicit additive 4D mask ({CAUSAL_MASK:g} above the diagonal) replaces "
    "transformers' own, whose finfo(float32).min no fixed-point scale holds (ezkl: 'significant bit truncation "
    "when instantiating, try lowering the scale'); the torch reference uses the same mask"
)
TORCHVISION_NOTE = (
    "torchvision: 0.28.0's compiled ops link against CUDA torch and do not load beside torch 2.13.0+cpu; its import "
    "then fails registering fake nms/qnms kernels, so torchvision_import_fix() declares those two schemas (no "
    "kernel) first: the classification models here use no torchvision C++ op"
)
HF_NOTE = "Hugging Face models return one tensor (logits, or the encoder's last hidden state), use_cache=False"
AS_IS_NOTE = (
    "llama_as_is: the same LlamaForCausalLM given to zkml.export with no wrapper and no mask of ours: export chooses "
    "dynamo (TorchScript has no symbolic for the aten::diff in transformers' mask code), proves the ModelOutput's "
    "logits with use_cache=False, and the load-time mask rewrite makes the library's finfo(float32).min causal mask "
    "multiplicative (each masked score 12 + ln n below its row's minimum)"
)
NOTES = [HF_NOTE, AS_IS_NOTE, CAUSAL_NOTE, ROBERTA_NOTE, MOE_NOTE, TORCHVISION_NOTE]
BY_NAME = {e.name: e for e in ENTRIES}
LIBRARY_MODULE = {"transformers": "transformers", "torchvision": "torchvision", "timm": "timm", "torch.nn": "torch"}


def entry(name: str) -> Entry:
    return BY_NAME[name]


def available(e: Entry) -> bool:
    return have(LIBRARY_MODULE[e.library])
