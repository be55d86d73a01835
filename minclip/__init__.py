"""minclip: OpenAI's CLIP (Radford et al. 2021) rebuilt from scratch in PyTorch, one concept per module.

The public API mirrors openai/CLIP where one exists (`minclip.tokenize`); this file only re-exports it.
"""

from minclip.tokenizer import BPETokenizer, tokenize

__all__ = ["BPETokenizer", "tokenize"]
__version__ = "0.1.0"
