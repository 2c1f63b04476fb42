"""A GGUF file's byte-level BPE tokenizer (GPT-2 style: ``tokenizer.ggml.model = gpt2``) as a
Hugging Face ``tokenizers.Tokenizer`` built from its vocabulary and merges (the ``llm`` extra).

The pre-tokenizer follows ``tokenizer.ggml.pre`` as llama.cpp does: ``gpt2``/``default`` is
GPT-2's regex, ``smollm`` splits every digit first (SmolLM2). Control tokens (``token_type``
3, e.g. ``<|im_start|>``) are special: never split, matched in text as written. The tokenizer
adds nothing; a model whose ``tokenizer.ggml.add_bos_token`` is true gets its BOS id back
from :func:`build_tokenizer`, for the caller to put first (SmolLM2's is false).
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["build_tokenizer", "render_chat", "PRE_TOKENIZERS"]

PRE_TOKENIZERS = ("gpt2", "default", "smollm")
_CONTROL = 3   # gguf.TokenType.CONTROL


def build_tokenizer(fields: dict, path: Path):
    """(tokenizer, end-of-sequence ids, vocabulary size, BOS id to put first or None) from a GGUF
    reader's fields."""
    from .gguf import GgufError, _meta
    try:
        from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    except ImportError:
        raise GgufError("the tokenizer needs the `tokenizers` package: pip install 'hwgen[llm]'") from None
    kind = _meta(fields, path, "tokenizer.ggml.model", str)
    if kind != "gpt2":
        raise GgufError(f"{path}: tokenizer.ggml.model is {kind!r}; hwgen builds byte-level BPE ('gpt2') tokenizers")
    tokens = _meta(fields, path, "tokenizer.ggml.tokens", list)
    merges = _meta(fields, path, "tokenizer.ggml.merges", list)
    types = _meta(fields, path, "tokenizer.ggml.token_type", list, [1] * len(tokens))
    if len(types) != len(tokens) or not tokens:
        raise GgufError(f"{path}: tokenizer.ggml.token_type has {len(types)} entries for {len(tokens)} tokens")
    vocab = {}
    for i, t in enumerate(tokens):
        if t in vocab:
            raise GgufError(f"{path}: tokenizer.ggml.tokens[{i}] {t!r} repeats token {vocab[t]}")
        vocab[t] = i
    pairs = []
    for i, m in enumerate(merges):
        parts = m.split(" ") if isinstance(m, str) else []
        if len(parts) != 2 or parts[0] not in vocab or parts[1] not in vocab or "".join(parts) not in vocab:
            raise GgufError(f"{path}: tokenizer.ggml.merges[{i}] {m!r:.40} is not two tokens whose join is a token")
        pairs.append((parts[0], parts[1]))
    tk = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False, byte_fallback=False))
    pre = _meta(fields, path, "tokenizer.ggml.pre", str, "default")
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre == "smollm":
        tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif pre in ("gpt2", "default"):
        tk.pre_tokenizer = byte_level
    else:
        raise GgufError(f"{path}: tokenizer.ggml.pre is {pre!r}; hwgen knows {', '.join(PRE_TOKENIZERS)}")
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False)
                           for t, ty in zip(tokens, types) if ty == _CONTROL])
    eos = [_meta(fields, path, "tokenizer.ggml.eos_token_id", int, -1)]
    if "<|im_end|>" in vocab:   # chat models end a turn with it (SmolLM2: it is the EOS)
        eos.append(vocab["<|im_end|>"])
    eos = tuple(sorted({e for e in eos if 0 <= e < len(tokens)}))
    bos = None
    if _meta(fields, path, "tokenizer.ggml.add_bos_token", bool, False):
        bos = _meta(fields, path, "tokenizer.ggml.bos_token_id", int)
        if not 0 <= bos < len(tokens):
            raise GgufError(f"{path}: tokenizer.ggml.bos_token_id {bos} is not a token (0..{len(tokens) - 1})")
    return tk, eos, len(tokens), bos


def render_chat(template: str | None, path: Path, prompt: str) -> str:
    """``prompt`` as one user turn in the model's chat template (``tokenizer.chat_template``, a
    Jinja template, rendered as Hugging Face does: sandboxed, ``add_generation_prompt``), so
    an instruct model answers it instead of continuing it."""
    from .gguf import GgufError
    if template is None:
        raise GgufError(f"{path}: no tokenizer.chat_template in the file; run without --chat (plain continuation)")
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    try:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        return env.from_string(template).render(messages=[{"role": "user", "content": prompt}],
                                                add_generation_prompt=True)
    except TemplateError as e:
        raise GgufError(f"{path}: tokenizer.chat_template does not render ({type(e).__name__}: {e})") from None
