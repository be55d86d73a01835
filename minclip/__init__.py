"""minclip: OpenAI's CLIP (Radford et al. 2021) rebuilt from scratch in PyTorch, one concept per module.

The public API mirrors openai/CLIP where one exists (`minclip.load`, `minclip.tokenize`,
`minclip.available_models`, `model.encode_image`, `model.encode_text`, `model(image, text)`); this file only
re-exports it.
"""

from minclip.load import available_models, load, save_checkpoint
from minclip.loss import ClipLoss, clamp_logit_scale, clip_loss
from minclip.model import CLIP, CLIPConfig, build_model
from minclip.tokenizer import BPETokenizer, tokenize
from minclip.zeroshot import retrieval_recall, zero_shot_classifier, zero_shot_eval

__all__ = ["BPETokenizer", "CLIP", "CLIPConfig", "ClipLoss", "available_models", "build_model", "clamp_logit_scale",
           "clip_loss", "load", "retrieval_recall", "save_checkpoint", "tokenize", "zero_shot_classifier",
           "zero_shot_eval"]
__version__ = "0.1.0"
