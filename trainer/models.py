"""Generator and discriminator: fully convolutional over time, so any length is one forward pass.

Generator input, per frame: coarse noise (linearly upsampled to frame rate) + conditioning
channels (known frames, interpolated across the unknown ones; the mask; an optional root
trajectory with its own mask). The output is a residual over the interpolated known frames,
which are zero when generating freely.
Per clip: a global latent and the label embeddings, applied through FiLM in every block.
The numpy twin (blender_ganim/core/generator.py) mirrors this file op for op; keep them in step.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from blender_ganim.core import labeler
from blender_ganim.core.generator import cond_channels, joint_index, joint_rows, known_channels, upsample_index

TRAJ_CHANNELS = (6, 7, 8, 9)  # root height, velocity x/z, yaw rate: what path following conditions on


def gen_config(channels, vocab_sizes, hidden=128, dilations=(1, 2, 4, 8, 16, 32, 1, 4),
               noise=16, latent=32, embed=64, noise_stride=4, residual=True, joint=False):
    cfg = dict(channels=channels, vocab_sizes=dict(vocab_sizes), hidden=hidden, dilations=list(dilations),
               noise=noise, latent=latent, embed=embed, noise_stride=noise_stride,
               traj=list(TRAJ_CHANNELS), residual=residual)
    if joint:  # only when used, so files without it keep the header they always had
        cfg["joint"] = True
    return cfg



class FiLMBlock(nn.Module):
    """Two dilated convs with a per-clip scale and shift, around a residual connection."""

    def __init__(self, hidden, dilation, cond):
        super().__init__()
        self.conv1 = nn.Conv1d(hidden, hidden, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=dilation, dilation=dilation)
        self.film = nn.Linear(cond, 2 * hidden)

    def forward(self, x, c):
        gamma, beta = self.film(c).unsqueeze(-1).chunk(2, dim=1)
        h = self.conv1(x)
        h = F.leaky_relu(h * (1 + gamma) + beta, 0.2)
        h = self.conv2(h)
        return F.leaky_relu(x + h, 0.2)


class Generator(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        H, E = cfg["hidden"], cfg["embed"]
        # One embedding per label column; the extra last row means "unspecified".
        self.embeds = nn.ModuleDict({k: nn.Embedding(n + 1, E) for k, n in cfg["vocab_sizes"].items()})
        # Optional: one more row per label combination (--joint-labels), added to the columns' sum.
        # It starts at zero, so a model given it by a fine-tune generates as before until it learns.
        self.joint = nn.Embedding(joint_rows(cfg["vocab_sizes"]), E) if cfg.get("joint") else None
        if self.joint is not None:
            nn.init.zeros_(self.joint.weight)
        cond = E + cfg["latent"]
        self.inp = nn.Conv1d(cfg["noise"] + cond_channels(cfg), H, 3, padding=1)
        self.blocks = nn.ModuleList([FiLMBlock(H, d, cond) for d in cfg["dilations"]])
        self.out = nn.Conv1d(H, cfg["channels"], 3, padding=1)

    def clip_code(self, labels, latent):
        e = latent.new_zeros(latent.shape[0], self.cfg["embed"])
        for k, emb in self.embeds.items():
            e = e + emb(labels[k])
        if self.joint is not None:
            e = e + self.joint(joint_index(self.cfg["vocab_sizes"], labels))
        return torch.cat([e, latent], dim=-1)

    def forward(self, noise, latent, labels, cond):
        """noise [B, noise, ceil(T/stride)], latent [B, latent], labels {k: [B]}, cond [B, cond_channels, T]."""
        T = cond.shape[-1]
        # Linear, not repeated: a staircase of noise every `stride` frames comes out as jitter.
        i0, i1, w = upsample_index(noise.shape[-1], T, self.cfg["noise_stride"])
        i0, i1, w = torch.from_numpy(i0), torch.from_numpy(i1), torch.from_numpy(w).to(noise)
        z = noise[..., i0] * (1 - w) + noise[..., i1] * w
        c = self.clip_code(labels, latent)
        x = F.leaky_relu(self.inp(torch.cat([z, cond], dim=1)), 0.2)
        for block in self.blocks:
            x = block(x, c)
        out = self.out(x)
        if self.cfg.get("residual"):  # on top of the interpolated known frames (zero when free)
            out = out + cond[:, :self.cfg["channels"]]
        return out


def make_cond(cfg, known=None, mask=None, traj=None, traj_mask=None, batch=1, frames=64, device="cpu"):
    """Pack conditioning channels; all-zero means 'generate freely'."""
    C, n_traj = cfg["channels"], len(cfg["traj"])
    cond = torch.zeros(batch, cond_channels(cfg), frames, device=device)
    if known is not None and mask is not None:
        filled = known_channels(cfg, known.detach().float().cpu().numpy(), mask.detach().cpu().numpy())
        cond[:, :C] = torch.from_numpy(filled).to(device)
        cond[:, C:C + 1] = mask
    if traj is not None and traj_mask is not None:
        cond[:, C + 1:C + 1 + n_traj] = traj * traj_mask
        cond[:, C + 1 + n_traj:] = traj_mask
    return cond


# --d-wide: dilations of the layers added on each critic branch (after its strides of 8 and 4 frames).
WIDE_DILATIONS = {"features": (1, 2), "fk": (1, 2, 4)}


def _dilated(sn, width, dilations):
    return [sn(nn.Conv1d(width, width, 3, padding=d, dilation=d)) for d in dilations]


class Discriminator(nn.Module):
    """Temporal conv critic over windows with label projection (Miyato & Koyama 2018)."""

    def __init__(self, channels, vocab_sizes, hidden=128, spectral=True, fk=None, time_std=False, batch_std=False,
                 classify=False, wide=False, joint=False):
        super().__init__()
        self.time_std, self.batch_std = time_std, batch_std
        sn = nn.utils.spectral_norm if spectral else (lambda m: m)  # without it, R1 alone keeps D in check
        self.convs = nn.ModuleList([
            sn(nn.Conv1d(channels, hidden, 3, padding=1)),
            sn(nn.Conv1d(hidden, hidden, 4, stride=2, padding=1)),
            sn(nn.Conv1d(hidden, 2 * hidden, 4, stride=2, padding=1)),
            sn(nn.Conv1d(2 * hidden, 2 * hidden, 4, stride=2, padding=1)),
        ])
        # With ``wide``, dilated layers on top let one critic unit see a whole window (72 frames here,
        # 68 in the FK branch) instead of a 24-frame (12-frame) patch: a wave's cycle is 12-43 frames,
        # and a patch critic passes cycles whose parts each look real but do not add up to one.
        if wide:
            self.convs.extend(_dilated(sn, 2 * hidden, WIDE_DILATIONS["features"]))
        # A second, frame-rate branch on the root channels only: walking speed and turning
        # rate get their own pressure instead of drowning among 130 rotation channels.
        self.root = nn.ModuleList([
            sn(nn.Conv1d(len(TRAJ_CHANNELS), hidden // 2, 5, padding=2)),
            sn(nn.Conv1d(hidden // 2, hidden // 2, 5, stride=2, padding=2)),
        ])
        pooled = 2 if time_std else 1  # mean over time, and with time_std its spread too
        feat = pooled * 2 * hidden + hidden // 2
        # Optional third branch on joint positions and velocities (trainer/fk.py): foot sliding
        # and odd reach are plain to see there and nearly invisible in local rotations.
        self.fk = fk
        if fk is not None:
            self.fk_convs = nn.ModuleList([
                sn(nn.Conv1d(fk.channels, hidden, 3, padding=1)),
                sn(nn.Conv1d(hidden, hidden, 4, stride=2, padding=1)),
                sn(nn.Conv1d(hidden, hidden, 4, stride=2, padding=1)),
            ])
            if wide:
                self.fk_convs.extend(_dilated(sn, hidden, WIDE_DILATIONS["fk"]))
            feat += pooled * hidden
        feat += 1 if batch_std else 0
        self.head = sn(nn.Linear(feat, 1))
        self.embeds = nn.ModuleDict({k: sn(nn.Embedding(n, feat)) for k, n in vocab_sizes.items()})
        # With ``joint``, a projection per label combination too: whether a window moves as *this*
        # style does in *this* content, not only as the style does on average over contents.
        self.vocab_sizes = dict(vocab_sizes)
        self.joint = sn(nn.Embedding(joint_rows(vocab_sizes, unspecified=False), feat)) if joint else None
        # Optional label heads (auxiliary classifier, Odena et al. 2017): which label does a window
        # look like? Fitted on real windows only; G is then asked to make its windows read as theirs.
        self.classify = nn.ModuleDict({k: sn(nn.Linear(feat, n)) for k, n in vocab_sizes.items()}) \
            if classify else None

    def forward(self, x, labels, classes=False):
        """Realness score [B]; with ``classes``, also {column: label logits [B, n]} from the label heads."""
        h = x
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)
        r = x[:, list(TRAJ_CHANNELS)]
        for conv in self.root:
            r = F.leaky_relu(conv(r), 0.2)
        # Mean and std over time: std lets the critic see how much a clip moves.
        parts = [self._pool(h), r.mean(-1) + r.std(-1)]
        if self.fk is not None:
            p = self.fk(x)
            for conv in self.fk_convs:
                p = F.leaky_relu(conv(p), 0.2)
            parts.append(self._pool(p))
        if self.batch_std:
            parts.append(batch_spread(torch.cat(parts, dim=-1)))
        feat = torch.cat(parts, dim=-1)
        out = self.head(feat).squeeze(-1)
        for k, emb in self.embeds.items():
            out = out + (emb(labels[k]) * feat).sum(-1)
        if self.joint is not None:
            out = out + (self.joint(joint_index(self.vocab_sizes, labels, unspecified=False)) * feat).sum(-1)
        if classes:
            return out, {k: head(feat) for k, head in (self.classify or {}).items()}
        return out

    def _pool(self, h):
        return torch.cat([h.mean(-1), h.std(-1)], dim=-1) if self.time_std else h.mean(-1)


def batch_spread(feat, group=4):
    """How far apart the windows of a small group are, as one feature per window [B, 1].

    The minibatch standard deviation of Karras et al. 2018: a critic that sees one window at a
    time cannot tell a batch that is too varied (or too alike) from real; with this it can.
    Groups are every (B / group)-th window, so each holds windows of several labels, as real does.
    """
    B = feat.shape[0]
    g = min(group, B)
    while B % g:
        g -= 1
    if g < 2:
        return feat.new_zeros(B, 1)
    y = feat.reshape(g, B // g, -1)
    spread = (y.var(0, unbiased=False) + 1e-8).sqrt().mean(-1)  # [B // g]
    return spread.repeat(g).unsqueeze(-1)


def count_params(module):
    return sum(p.numel() for p in module.parameters())


def generator_from_file(model):
    """A torch Generator holding a loaded .ganim's weights (its label classifier is left aside)."""
    return generator_from_weights(model.header["arch"], labeler.network_weights(model.weights))


def generator_from_weights(arch, weights):
    """A torch Generator of ``arch`` holding ``weights``; a joint embedding that ``arch`` asks
    for and ``weights`` lack (a fine-tune adding --joint-labels) starts at zero."""
    G = Generator(arch)
    state = {k: torch.from_numpy(np.array(v)) for k, v in weights.items()}  # a loaded model's are read-only
    if G.joint is not None and "joint.weight" not in state:
        state["joint.weight"] = G.joint.weight.detach().clone()
    G.load_state_dict(state)
    return G


def generator_weights(G):
    """State dict as float32 numpy arrays, for the .ganim file."""
    return {k: v.detach().float().cpu().numpy() for k, v in G.state_dict().items()}


def mismatched_labels(labels, vocab_sizes, gen):
    """The same rows under labels they do not have: each row gets one column, drawn at random among
    those with two or more values, moved to another of its values (``--mismatch-weight``).

    A critic shown real windows under wrong labels as fakes (matching-aware, Reed et al. 2016) must
    learn what tells the labels apart, and G gets that through the critic's label projection. Tried
    as a fine-tune and not adopted: styles read no clearer (docs/experiments.md, *Real windows under
    wrong labels*).
    """
    columns = [k for k, n in vocab_sizes.items() if n > 1]
    if not columns:
        return None
    first = labels[columns[0]]
    pick = torch.randint(len(columns), (len(first),), generator=gen).to(first.device)
    out = dict(labels)
    for i, k in enumerate(columns):
        shift = torch.randint(1, vocab_sizes[k], (len(first),), generator=gen).to(first.device)
        out[k] = torch.where(pick == i, (labels[k] + shift) % vocab_sizes[k], labels[k])
    return out


def label_loss(logits, labels, like):
    """Cross-entropy of the critic's label heads against the labels, summed over columns; a zero
    like ``like`` when the critic has no heads (``--label-weight 0``)."""
    total = like.new_zeros((), dtype=torch.float32)
    for k, lg in logits.items():
        total = total + F.cross_entropy(lg.float(), labels[k])
    return total
