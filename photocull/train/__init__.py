"""Training and evaluating FGAesQ: data formats, edit pairs, losses, metrics and the loop.

Modules: :mod:`.datasets` (formats, validated on load), :mod:`.edits` (edit-induced pairs),
:mod:`.losses`, :mod:`.metrics`, :mod:`.config` (TrainConfig, TOML), :mod:`.loop`
(``train``, ``evaluate``), :mod:`.adapters` (scorers as functions), :mod:`.cli` (the
``photocull train`` / ``photocull eval`` command functions). Nothing heavy is imported here.
"""
