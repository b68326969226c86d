"""The CTC head of a fine-tuned checkpoint carried over to another vocabulary, row by character.

A checkpoint fine-tuned on one alphabet and trained further on another has a head (one row of weights and one
bias per output token) that transformers either re-initializes whole (the sizes differ: `ignore_mismatched_sizes`)
or loads by index (the sizes are equal), so that a row lands on whatever character now has its index. Here the
rows follow the characters: each token of the new vocabulary that the checkpoint's tokenizer also has keeps its
row (the special tokens by their role, so `<pad>` becomes `[PAD]`: the CTC blank keeps what it learned), and the
others get transformers' own initialization of a fresh head. transformers issue 15333 asks for this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from robust_speech.core.logs import LOGGER

# Tokenizer attributes naming a special token; a token of one role maps to the other vocabulary's of that role.
ROLES = ("pad_token", "unk_token", "word_delimiter_token", "bos_token", "eos_token")
# Characters listed by name in the log line; beyond this many, a count.
LISTED = 60


@dataclass(frozen=True)
class TokenSet:
    """A tokenizer's vocabulary (token -> index) and its special tokens by role."""

    tokens: dict[str, int]
    roles: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, tokenizer) -> TokenSet:
        tokens = dict(tokenizer.get_vocab())
        roles = {role: getattr(tokenizer, role, None) for role in ROLES}
        return cls(tokens, {role: token for role, token in roles.items() if isinstance(token, str) and token in tokens})


@dataclass(frozen=True)
class HeadCarryOver:
    """Which new head row comes from which checkpoint row (`rows`: new index -> old index), and what to say."""

    rows: dict[int, int]
    new_size: int
    kept: tuple[str, ...]  # new tokens whose rows are the checkpoint's
    fresh: tuple[str, ...]  # new tokens initialized afresh
    left_out: tuple[str, ...]  # checkpoint tokens the new vocabulary lacks

    @classmethod
    def between(cls, old: TokenSet, new: TokenSet, old_rows: int) -> HeadCarryOver:
        """Rows matched by token (special tokens by role); checkpoint indices past its head's `old_rows` are none."""
        by_role = {new.roles[role]: old.roles[role] for role in new.roles.keys() & old.roles.keys()}
        rows: dict[int, int] = {}
        for token, index in new.tokens.items():
            source = by_role.get(token, token)
            if source in old.tokens and old.tokens[source] < old_rows:
                rows[index] = old.tokens[source]
        order = sorted(new.tokens, key=new.tokens.get)
        used = set(rows.values())
        return cls(rows, len(new.tokens), tuple(t for t in order if new.tokens[t] in rows),
                   tuple(t for t in order if new.tokens[t] not in rows),
                   tuple(t for t in sorted(old.tokens, key=old.tokens.get) if old.tokens[t] not in used))

    @property
    def changes_anything(self) -> bool:
        """False when loading by index already puts every row in its place (the same tokens at the same indices)."""
        return bool(self.fresh or self.left_out) or any(new != old for new, old in self.rows.items())

    def apply(self, model: torch.nn.Module) -> None:
        """Replace `model.lm_head` (the checkpoint's, as loaded) by a head of `new_size` rows: the kept rows
        copied, the others initialized as transformers initializes a new head."""
        old = model.lm_head
        head = torch.nn.Linear(old.in_features, self.new_size, bias=old.bias is not None,
                               device=old.weight.device, dtype=old.weight.dtype)
        model._init_weights(head)  # transformers' initialization of the model's Linear layers
        with torch.no_grad():
            new_index = torch.tensor(list(self.rows), dtype=torch.long, device=old.weight.device)
            old_index = torch.tensor(list(self.rows.values()), dtype=torch.long, device=old.weight.device)
            head.weight[new_index] = old.weight[old_index]
            if old.bias is not None:
                head.bias[new_index] = old.bias[old_index]
        model.lm_head = head
        model.config.vocab_size = self.new_size

    def summary(self, source: str) -> str:
        return (f"CTC head carried over from {source}: kept the rows of {len(self.kept)} of {self.new_size} tokens "
                f"({_listed(self.kept)}); {len(self.fresh)} new, initialized afresh ({_listed(self.fresh)}); "
                f"{len(self.left_out)} of the checkpoint's left out ({_listed(self.left_out)})")


def _listed(tokens: tuple[str, ...]) -> str:
    shown = " ".join("' '" if token == " " else token for token in tokens[:LISTED])
    more = f" and {len(tokens) - LISTED} more" if len(tokens) > LISTED else ""
    return (shown + more) or "none"


def checkpoint_tokens(source: str, **options) -> TokenSet | None:
    """The vocabulary of the checkpoint's own tokenizer; None where it has none (a pretrained-only model)."""
    from transformers import AutoTokenizer

    try:
        return TokenSet.of(AutoTokenizer.from_pretrained(source, **options))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def plan_carry_over(source: str, old_rows: int, tokenizer, **options) -> HeadCarryOver | None:
    """The carry-over from the checkpoint `source` (a head of `old_rows`) to `tokenizer`'s vocabulary; None where
    loading by index is right or the checkpoint has no tokenizer to match characters with."""
    old = checkpoint_tokens(source, **options)
    if old is None:
        return None
    plan = HeadCarryOver.between(old, TokenSet.of(tokenizer), old_rows)
    return plan if plan.changes_anything else None


def finish_carry_over(model, plan: HeadCarryOver, source: str, loading_info: dict) -> None:
    """Apply `plan` to a model loaded with the checkpoint's head size, unless the checkpoint had no head to carry
    (then the head is only resized, freshly initialized, as transformers would have done)."""
    missing = set(loading_info.get("missing_keys", ())) | {key for key, *_ in loading_info.get("mismatched_keys", ())}
    if any(key.startswith("lm_head.") for key in missing):
        plan = HeadCarryOver({}, plan.new_size, (), plan.kept + plan.fresh, ())
        LOGGER.info(f"note: {source} has no CTC head to carry over: the head is initialized afresh")
    else:
        LOGGER.info(plan.summary(source))
    plan.apply(model)
