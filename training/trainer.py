"""The training loop: the whole dataset in one tensor, batch augmentation on the device, early
stopping on validation, resumable state after every epoch, DDP when launched by torchrun."""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from kws_edge.errors import KwsError

from .augment import AugmentConfig, BatchAugmenter
from .checkpoint import atomic_save
from .finetune import apply_freeze, set_train_mode
from .front_cache import FrontCache
from .model import M5

log = logging.getLogger(__name__)

RESUME_VERSION = 1
CPU_RESAMPLE_CHUNK = 64  # see M5.resample_chunk


@dataclass
class TrainConfig:
    epochs: int = 60
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_step: int = 20  # StepLR: multiply the rate by lr_gamma every lr_step epochs (the seed's recipe)
    lr_gamma: float = 0.1
    patience: int = 10  # stop after this many epochs without a better validation score
    # "best": keep the weights of the best validation epoch (and stop early); "last": run every
    # epoch and keep the final weights, for validation sets too small to rank epochs reliably.
    select: str = "best"
    seed: int = 0
    device: str = "auto"
    freeze: tuple[str, ...] = ()
    threads: int = 0  # 0: one per core (divided among DDP processes on one machine)
    augment: bool = True
    augment_config: AugmentConfig = field(default_factory=AugmentConfig)
    amp: bool = True  # mixed precision on CUDA only
    # Loss weight per label index (`--balance`); empty = every clip counts the same.
    class_weights: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["freeze"] = list(self.freeze)
        d["class_weights"] = list(self.class_weights)
        return d


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def dist_from_env() -> DistInfo:
    """torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; a plain run is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def resolve_device(name: str, dist: DistInfo) -> torch.device:
    if name not in ("auto", "cpu", "cuda") and not name.startswith("cuda:"):
        raise KwsError(f"--device {name}: choose auto, cpu or cuda")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise KwsError("--device cuda: no CUDA GPU is available to torch on this machine")
        return torch.device("cuda", dist.local_rank) if name == "cuda" else torch.device(name)
    return torch.device("cpu")


def init_distributed(dist: DistInfo, device: torch.device) -> None:
    if dist.world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group(backend=backend)


def set_threads(config: TrainConfig, dist: DistInfo) -> int:
    n = config.threads or max(1, (os.cpu_count() or 1) // dist.world)
    torch.set_num_threads(n)
    return n


def _place(x: np.ndarray, device: torch.device) -> torch.Tensor:
    """The whole split as one tensor on the device when it fits (GPU), else in host memory."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if t.numel() * t.element_size() < 0.5 * free:
            return t.to(device)
        return t.pin_memory()
    return t


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, x: torch.Tensor | np.ndarray, device: torch.device,
                   batch_size: int = 1024) -> torch.Tensor:
    """Logits for every row of `x`, in eval mode, without autograd bookkeeping."""
    was_training = model.training
    model.eval()
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    outs = []
    amp = device.type == "cuda"
    dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            outs.append(model(xb).float().cpu())
    model.train(was_training)
    return torch.cat(outs) if outs else torch.zeros(0, 0)


def _val_score(model: M5, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> tuple[float, float]:
    if x.shape[0] == 0:
        return float("nan"), float("nan")
    logits = predict_logits(model, x, device)  # on the CPU
    y = y.cpu()
    return float((logits.argmax(1) == y).float().mean()), float(F.cross_entropy(logits, y))


class Trainer:
    """Owns the model, optimiser and schedule. `fit()` runs epochs; `state()` is what resume.pt holds."""

    def __init__(self, model: M5, config: TrainConfig, data_x: dict[str, np.ndarray],
                 data_y: dict[str, np.ndarray], noise: np.ndarray, *, out_dir: Path | None,
                 dist: DistInfo | None = None, resume_meta: dict | None = None,
                 front: FrontCache | None = None, front_extra: np.ndarray | None = None) -> None:
        """`front_extra`: clips cached after the train clips when the front cache is built, so a
        later run on train + these (the refit) can take `self.front` as its `front` instead of
        building its own. `front` must come from a model with the same frozen conv1."""
        self.config = config
        self.dist = dist or DistInfo()
        self.device = resolve_device(config.device, self.dist)
        init_distributed(self.dist, self.device)
        self.threads = set_threads(config, self.dist)
        self.out_dir = out_dir
        self.resume_meta = resume_meta or {}
        self.model = model.to(self.device)
        if self.device.type == "cpu":
            self.model.resample_chunk = CPU_RESAMPLE_CHUNK
        apply_freeze(self.model, config.freeze)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise KwsError("--freeze leaves nothing to train")
        self.net: torch.nn.Module = self.model
        if self.dist.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
        self.sched = torch.optim.lr_scheduler.StepLR(self.opt, step_size=config.lr_step,
                                                     gamma=config.lr_gamma)
        self.amp_dtype = None
        if config.amp and self.device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.class_w = (torch.tensor(config.class_weights, dtype=torch.float32, device=self.device)
                        if config.class_weights else None)
        self.x = {k: _place(v, self.device) for k, v in data_x.items()}
        self.y = {k: torch.from_numpy(v).to(self.device if self.x[k].is_cuda else "cpu")
                  for k, v in data_y.items()}
        noise_t = torch.from_numpy(np.ascontiguousarray(noise)).to(self.device) if len(noise) else None
        self.augment = BatchAugmenter(config.augment_config, noise_t, self.device, config.seed)
        # With conv1 frozen its input side never changes: run it once per clip (front_cache.py).
        # Not under DDP, whose gradient hooks expect the wrapped forward() to run. Built when
        # training starts, not here: a resumed run loads its saved weights after construction,
        # and a cache of the fresh model's conv1 would train the rest against the wrong front end.
        self._front_wanted = "conv1" in config.freeze and self.dist.world == 1
        self.front: FrontCache | None = front if self._front_wanted else None
        self._front_extra = front_extra
        self._noise_t = noise_t
        self.epoch = 0
        self.best = {"val_acc": -1.0, "val_loss": math.inf, "epoch": -1}
        self.best_state: dict | None = None
        self.bad_epochs = 0
        self.history: list[dict] = []
        self.train_seconds = 0.0
        self.samples_seen = 0

    # ---- resume -------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "version": RESUME_VERSION,
            "epoch": self.epoch,
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(),
            "best": dict(self.best),
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "history": self.history,
            "train_seconds": self.train_seconds,
            "samples_seen": self.samples_seen,
            "train_config": self.config.to_dict(),
            "meta": self.resume_meta,
        }

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.front = None  # computed from the loaded weights when training starts
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])
        self.best = dict(state["best"])
        self.best_state = state["best_state"]
        self.bad_epochs = int(state["bad_epochs"])
        self.history = list(state["history"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.samples_seen = int(state.get("samples_seen", 0))

    def _save_resume(self) -> None:
        if self.out_dir is not None and self.dist.main:
            atomic_save(self.state(), self.out_dir / "resume.pt")

    # ---- the loop -----------------------------------------------------------------------------
    def _run_epoch(self) -> tuple[float, float, int]:
        cfg = self.config
        set_train_mode(self.model, cfg.freeze)
        x, y = self.x["train"], self.y["train"]
        n = x.shape[0]
        # Same permutation on every rank (seeded by epoch); each rank takes its shard of each batch.
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + self.epoch)
        perm = torch.randperm(n, generator=gen)
        aug_seed = cfg.seed * 100_003 + self.epoch * 7 + self.dist.rank * 1_000_003 + 1
        self.augment.reseed(aug_seed)
        if self.front is not None:
            self.front.reseed(aug_seed)
        steps = max(1, math.ceil(n / cfg.batch_size))
        # Running sums stay on the device: a .item() per step would stall a GPU on every batch.
        total_loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        seen = 0
        from tqdm import tqdm

        bar = tqdm(total=steps, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", unit="batch", leave=False,
                   file=sys.stderr, disable=None if self.dist.main else True)
        for start in range(0, n, cfg.batch_size):
            idx = perm[start:start + cfg.batch_size]
            if len(idx) < self.dist.world:
                break  # every rank must take part in every step
            idx = idx[self.dist.rank::self.dist.world]
            if self.front is not None:
                yb = y[idx].to(self.device, non_blocking=True)
                with self._autocast():
                    z = self.front.batch(idx.to(self.front.z.device), cfg.augment)
                    logits = self.model.fc1(self.model.features_from_conv1(z))
            else:
                if not x.is_cuda:
                    xb = x[idx].to(self.device, non_blocking=True)
                    yb = y[idx].to(self.device, non_blocking=True)
                else:
                    idx_dev = idx.to(self.device)
                    xb, yb = x[idx_dev], y[idx_dev]
                if cfg.augment:
                    xb = self.augment(xb)
                with self._autocast():
                    logits = self.net(xb)
            loss = F.cross_entropy(logits.float(), yb, weight=self.class_w)
            self._step(loss)
            total_loss += loss.detach() * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(yb)
            bar.update(1)
        bar.close()
        return float(total_loss) / max(seen, 1), int(correct) / max(seen, 1), seen

    def _autocast(self):
        """Mixed precision on CUDA when enabled; a no-op context otherwise."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    def _step(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()

    def fit(self) -> dict:
        """Train until `epochs` or early stop; leaves the best weights (by validation) in the model."""
        cfg = self.config
        if self._front_wanted and self.front is None and self.epoch < cfg.epochs:
            x = self.x["train"]
            if self._front_extra is not None and len(self._front_extra):
                x = torch.cat([x.cpu(), torch.from_numpy(np.ascontiguousarray(self._front_extra))])
            self.front = FrontCache(self.model, x, self._noise_t, cfg.augment_config, self.device, cfg.seed)
        while self.epoch < cfg.epochs:
            t0 = time.perf_counter()
            loss, acc, seen = self._run_epoch()
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            dt = time.perf_counter() - t0
            self.train_seconds += dt
            seen_all = seen * self.dist.world
            self.samples_seen += seen_all
            lr = self.opt.param_groups[0]["lr"]
            self.sched.step()
            if not math.isfinite(loss):
                # Diverged (rate too high for the data, or a broken start): every later epoch and
                # the saved model would be NaN. Stop before resume.pt takes this epoch's weights.
                raise KwsError(f"training diverged: loss {loss} in epoch {self.epoch + 1} (try a lower "
                               "--lr); no model written")
            val_acc, val_loss = _val_score(self.model, self.x["val"], self.y["val"], self.device)
            if math.isnan(val_acc):  # no validation clips: judge on training loss
                val_acc, val_loss = acc, loss
            self.epoch += 1
            record = {"epoch": self.epoch, "loss": loss, "train_acc": acc, "val_acc": val_acc,
                      "val_loss": val_loss, "lr": lr, "samples_per_s": seen_all / dt, "seconds": dt}
            self.history.append(record)
            better = (val_acc, -val_loss) > (self.best["val_acc"], -self.best["val_loss"])
            if better:
                self.best = {"val_acc": val_acc, "val_loss": val_loss, "epoch": self.epoch}
                if cfg.select == "best":  # "last" never goes back to it
                    self.best_state = {k: v.detach().cpu().clone()
                                       for k, v in self.model.state_dict().items()}
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
            if self.dist.main:
                # About 8 epoch lines a run at INFO (the first, every k-th, the last); all at DEBUG.
                # Without validation clips (the refit) there is no validation score to print.
                shown = self.epoch in (1, cfg.epochs) or self.epoch % max(1, cfg.epochs // 8) == 0
                has_val = len(self.y["val"]) > 0
                log.log(logging.INFO if shown else logging.DEBUG,
                        "epoch %d/%d loss %.4f train_acc %.3f%s lr %.2g %.0f samples/s%s", self.epoch,
                        cfg.epochs, loss, acc,
                        f" val_acc {val_acc:.3f} val_loss {val_loss:.4f}" if has_val else "", lr,
                        seen_all / dt, " *" if better and has_val else "")
            self._save_resume()
            if self.bad_epochs >= cfg.patience and cfg.select == "best":
                if self.dist.main:
                    log.info("early stop: no better validation score for %d epochs (best epoch %d)",
                             cfg.patience, self.best["epoch"])
                break
        if self.best_state is not None and cfg.select == "best":
            self.model.load_state_dict(self.best_state)
        # The validation accuracy of the weights kept: the best epoch's, or with --select last the
        # last epoch's (the best one's would describe weights the model no longer has).
        kept = self.history[-1]["val_acc"] if cfg.select == "last" and self.history else self.best["val_acc"]
        return {"epochs_run": self.epoch, "best_epoch": self.best["epoch"],
                "best_val_acc": self.best["val_acc"], "kept_val_acc": kept,
                "train_seconds": self.train_seconds,
                "samples_per_s": self.samples_seen / self.train_seconds if self.train_seconds else None,
                "history": self.history, "threads": self.threads, "device": str(self.device),
                "world_size": self.dist.world}


def load_resume(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise KwsError(f"{path}: nothing to resume (no resume.pt in --out)") from None
    except Exception as exc:  # any unpickling failure means the file is not our state
        raise KwsError(f"{path}: not a kws-train resume state ({str(exc).splitlines()[0][:200]})") from None
    if not isinstance(state, dict) or state.get("version") != RESUME_VERSION or "model" not in state:
        raise KwsError(f"{path}: not a kws-train resume state")
    return state
