"""FGAesQ: a CLIP ViT-B/16 over DiffTokens with a 10-bin score head (see ``docs`` and each module).

Modules: :mod:`.config` (dataclasses), :mod:`.vit` (variable-length tower), :mod:`.head`,
:mod:`.difftoken` (tokens), :mod:`.fgaesq` (the model, safetensors I/O),
:mod:`.checkpoint` (official checkpoint import), :mod:`.series` (series scoring with
photocull's earlier tokens), :mod:`.official_tokens` and :mod:`.official` (the published
code's tokens and scoring, the default), :mod:`.weights` (``--weights`` from any checkpoint
file), :mod:`.hub` (downloads).
Submodules are imported lazily by their users; this package imports nothing heavy.
"""
